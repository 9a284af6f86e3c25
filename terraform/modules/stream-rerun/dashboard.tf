# ---- Run dashboard: the worker's writes and the stream's consumers on one time axis ----
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
# The worker's widgets read the metrics it embeds in its log lines (EMF, stream_rerun/metrics.py: namespace
# metrics_namespace, dimensions table and environment); a test keeps the names here and there the same. The consumers'
# widgets read AWS/Lambda by FunctionName (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
# Every widget is full width and reads 60-second periods, so the time axes line up down the page.
locals {
  dashboard_name = local.prefix
  console_domain = lookup({ "aws-cn" = "console.amazonaws.cn", "aws-us-gov" = "console.amazonaws-us-gov.com" }, local.partition, "console.aws.amazon.com")
  dashboard_url  = "https://${local.region}.${local.console_domain}/cloudwatch/home?region=${local.region}#dashboards/dashboard/${local.dashboard_name}"

  # The worker's metrics are [namespace, name, "table", <table>, "environment", <env>, {options}]
  worker_dimensions = ["table", var.table_name, "environment", var.environment]
  consumers         = var.consumer_function_names

  # A line at the deployment's default cap when it has one (a run's own cap, however set, is the WcuCap line).
  deployment_cap_line = { for k, v in {
    annotations = { horizontal = [{ label = "max_wcu_per_second (the deployment's default cap)", value = var.max_wcu_per_second }] }
  } : k => v if var.max_wcu_per_second != null }

  # Each widget's properties as JSON: their shapes differ, and a Terraform list holds one type.
  worker_widgets = var.metrics_namespace == "" ? [] : [
    jsonencode({
      title   = "Items touched per minute"
      metrics = [concat([var.metrics_namespace, "TouchedItems"], local.worker_dimensions, [{ stat = "Sum", label = "touched (all tasks)" }])]
      yAxis   = { left = { min = 0, label = "items / minute", showUnits = false } }
    }),
    # ConsumedWCU is a count per log line: its Sum over a period, divided by the period, is units per second.
    jsonencode(merge({
      title = "Write units per second against the cap"
      metrics = [
        concat([var.metrics_namespace, "ConsumedWCU"], local.worker_dimensions, [{ id = "wcu", stat = "Sum", visible = false }]),
        [{ id = "wcu_per_s", expression = "wcu / PERIOD(wcu)", label = "write units per second (all tasks)" }],
        concat([var.metrics_namespace, "WcuCap"], local.worker_dimensions, [{ id = "cap", stat = "Maximum", label = "the run's cap (each task's own)" }]),
      ]
      yAxis = { left = { min = 0, label = "WCU / second", showUnits = false } }
    }, local.deployment_cap_line)),
    jsonencode({
      title   = "Throttled statements per minute"
      metrics = [concat([var.metrics_namespace, "ThrottledStatements"], local.worker_dimensions, [{ stat = "Sum", label = "throttled (retried by the worker)" }])]
      yAxis   = { left = { min = 0, label = "statements / minute", showUnits = false } }
    }),
    jsonencode({
      title   = "Failed items per minute"
      metrics = [concat([var.metrics_namespace, "FailedItems"], local.worker_dimensions, [{ stat = "Sum", label = "failed (in the re-drive file)" }])]
      yAxis   = { left = { min = 0, label = "items / minute", showUnits = false } }
    }),
  ]

  # One line per consumer in each widget: which consumer falls behind, fails or fans out is read across them.
  consumer_widgets = length(local.consumers) == 0 ? [] : [
    jsonencode({
      title = "Consumers: iterator age (Maximum, seconds)"
      metrics = concat(
        [for i, f in local.consumers : ["AWS/Lambda", "IteratorAge", "FunctionName", f, { id = "age${i}", stat = "Maximum", visible = false }]],
        [for i, f in local.consumers : [{ id = "age${i}_s", expression = "age${i} / 1000", label = f }]],
      )
      yAxis = { left = { min = 0, label = "seconds behind the stream", showUnits = false } }
    }),
    jsonencode({
      title   = "Consumers: errors per minute (Sum)"
      metrics = [for f in local.consumers : ["AWS/Lambda", "Errors", "FunctionName", f, { stat = "Sum", label = f }]]
      yAxis   = { left = { min = 0, label = "invocations / minute", showUnits = false } }
    }),
    jsonencode({
      title   = "Consumers: concurrent executions (Maximum)"
      metrics = [for f in local.consumers : ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", f, { stat = "Maximum", label = f }]]
      yAxis   = { left = { min = 0, label = "executions", showUnits = false } }
    }),
  ]

  dashboard_intro = join("", [
    "**ddb-stream-rerun ${var.environment}**, table `${var.table_name}`: ",
    var.metrics_namespace == "" ? "no worker metrics (metrics_namespace is empty)" : "the worker's metrics (namespace `${var.metrics_namespace}`, every task together)",
    length(local.consumers) == 0 ? "; no consumer named (consumer_function_names)" : ", then the stream's consumers",
    ". One time axis: every widget is full width, in 60-second periods.",
  ])
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({
    start          = "-PT3H"
    periodOverride = "inherit" # every widget keeps its 60-second period, whatever the time range
    widgets = concat(
      [{ type = "text", x = 0, y = 0, width = 24, height = 2, properties = { markdown = local.dashboard_intro } }],
      [for i, w in concat(local.worker_widgets, local.consumer_widgets) : {
        type       = "metric"
        x          = 0
        y          = 2 + 6 * i
        width      = 24
        height     = 6
        properties = merge(jsondecode(w), { region = local.region, view = "timeSeries", stacked = false, period = 60 })
      }],
    )
  })
}
