"""The launcher (`stream-rerun-launch`, `make rerun ENV=...`): an operator's command that starts the worker as ECS
tasks (or through the SSM runbook), follows them and their logs, and exits with the workers' result.

    cli.py        options, the flow, exit codes            runconfig.py  the run configuration Terraform wrote
    ecs.py        RunTask, DescribeTasks, StopTask, attach  logtail.py    CloudWatch Logs, rendered for a person
    follow.py     the follow loop (timeout, Ctrl-C, lost    runbook.py    the SSM Automation runbook
                  answers)

It runs with the operator's credentials and imports from the worker only its settings (config.py) and its error
vocabulary (errors.py); the worker never imports it.
"""
