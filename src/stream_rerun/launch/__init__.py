"""The launcher (`stream-rerun-launch`, `make rerun ENV=...`): an operator's command that starts the worker as ECS
tasks (or through the SSM runbook), follows them and their logs, and exits with the workers' result.

    cli.py        options, the flow, exit codes            runconfig.py  the run configuration Terraform wrote
    ecs.py        RunTask, DescribeTasks, StopTask, attach  logtail.py    CloudWatch Logs, rendered for a person
    follow.py     the follow loop (timeout, Ctrl-C, lost    runbook.py    the SSM Automation runbook
                  answers)                                  plan.py       the plan printed first, the question
    progress.py   the live line, the summary block

It runs with the operator's credentials and imports from the worker only its settings (config.py), its error
vocabulary (errors.py) and its consumer discovery (consumers.py, for the plan); the worker never imports it.
"""

# Every AWS action the launcher calls. Terraform's operator policy (iam.tf, output operator_policy_arn) grants exactly
# these; a test compares them and records the calls the launcher makes.
OPERATOR_ACTIONS: dict[str, str] = {
    "ssm:GetParameter": "the run configuration (runconfig.load_config)",
    "ecs:RunTask": "start a task (ecs.Fleet.run_task)",
    "ecs:TagResource": "RunTask tags the task with its run-id",
    "ecs:DescribeTasks": "follow the tasks (ecs.Fleet.describe)",
    "ecs:StopTask": "Ctrl-C with --stop-on-interrupt, a fan-out that failed part-way (ecs.Fleet.stop)",
    "ecs:ListTasks": "--attach RUN_ID (ecs.Fleet.find)",
    "iam:PassRole": "RunTask passes the task and execution roles; --runbook passes the runbook's role to SSM",
    "logs:FilterLogEvents": "tail the tasks' logs, one call per poll (logtail.RunLogs); aws logs tail",
    "ssm:StartAutomationExecution": "--runbook (runbook.Runbook.run)",
    "ssm:GetAutomationExecution": "--runbook, following it (runbook.Runbook.follow)",
    "dynamodb:DescribeTable": "the plan: the table's current stream (plan.look_up)",
    "dynamodb:DescribeKinesisStreamingDestination": "the plan: the table's Kinesis destinations (consumers.discover)",
    "lambda:ListEventSourceMappings": "the plan: the consumers on the stream (consumers.discover); needs resource *",
}
