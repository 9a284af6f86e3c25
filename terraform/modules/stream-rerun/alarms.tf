# ---- Alarms (only with alarm_topic_arn) ----
# A task of this family that stopped with a non-zero exit code, or never started (no exit code: stopCode).
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ($or, anything-but)
resource "aws_cloudwatch_event_rule" "task_failed" {
  count       = var.alarm_topic_arn == null ? 0 : 1
  name        = "${local.prefix}-task-failed"
  description = "ddb-stream-rerun ${var.environment}: a task stopped with a non-zero exit code or failed to start."
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [local.cluster_arn]
      group      = ["family:${aws_ecs_task_definition.this.family}"]
      lastStatus = ["STOPPED"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "task_failed" {
  count = var.alarm_topic_arn == null ? 0 : 1
  rule  = aws_cloudwatch_event_rule.task_failed[0].name
  arn   = var.alarm_topic_arn
}

# Failed items, from the metrics the worker embeds in its log lines (no API call, no permission).
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format.html
resource "aws_cloudwatch_metric_alarm" "failed_items" {
  count               = var.alarm_topic_arn == null || var.metrics_namespace == "" ? 0 : 1
  alarm_name          = "${local.prefix}-failed-items"
  alarm_description   = "ddb-stream-rerun ${var.environment}: items failed (see the run's item_failed log lines)."
  namespace           = var.metrics_namespace
  metric_name         = "FailedItems"
  dimensions          = { table = var.table_name, environment = var.environment }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  tags                = local.tags
}
