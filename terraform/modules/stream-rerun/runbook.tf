# ---- Runbook: start the task, wait for it, fail unless it exited 0 ----
# https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-executeScript.html (RunTask and the
# exit-code check: runbook_script.py, unit-tested against moto; a script step runs at most 600 s, hence the wait step)
# https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-waitForAwsResourceProperty.html
# The role comes as the AutomationAssumeRole parameter (default the role below), not written into the document:
# a document's own assumeRole lets anyone allowed ssm:StartAutomationExecution use it without iam:PassRole.
resource "aws_ssm_document" "runbook" {
  name            = "${local.prefix}-run"
  document_type   = "Automation"
  document_format = "YAML"
  content = templatefile("${path.module}/runbook.yaml", {
    assume_role_arn   = aws_iam_role.runbook.arn
    cluster_arn       = local.cluster_arn
    task_definition   = aws_ecs_task_definition.this.family
    container_name    = local.container_name
    subnets           = jsonencode(var.subnet_ids)
    security_groups   = jsonencode([aws_security_group.this.id])
    assign_public_ip  = var.assign_public_ip ? "ENABLED" : "DISABLED"
    log_stream_prefix = local.log_prefix
    timeout_seconds   = var.runbook_timeout_seconds
    spot              = var.fargate_spot
    script            = file("${path.module}/runbook_script.py")
  })
  tags = local.tags
}

# ---- Runbook's assume role: run this task family only, pass its two roles to ECS only ----
data "aws_iam_policy_document" "runbook_assume" {
  statement {
    sid     = "SsmAutomationAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ssm.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:automation-execution/*"]
    }
  }
}

resource "aws_iam_role" "runbook" {
  name               = "${local.prefix}-runbook"
  assume_role_policy = data.aws_iam_policy_document.runbook_assume.json
  tags               = local.tags
}

# Also the core of the operator policy (iam.tf), which adds what the launcher needs besides.
data "aws_iam_policy_document" "run_tasks" {
  statement {
    sid       = "RunThisTaskFamily"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${aws_ecs_task_definition.this.family}:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  statement {
    sid       = "FollowAndStopTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${local.cluster_name}/*"]
  }

  statement {
    sid       = "TagTasksAtLaunch"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${local.cluster_name}/*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task_exec.arn, aws_iam_role.tasks.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "runbook" {
  name   = "run-task"
  role   = aws_iam_role.runbook.id
  policy = data.aws_iam_policy_document.run_tasks.json
}
