# The run dashboard, the consumers' permissions and the launcher's confirmation, with a mocked AWS provider (no
# credentials, no network). Run by `make tf-check` (terraform test). The metric names are compared with what the
# worker emits in tests/terraform/test_dashboard.py; test_chain.py applies the dashboard to moto.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/stream-rerun-test" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/stream-rerun-test-mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/stream-rerun-test" }
  }
}

variables {
  environment = "test"
  table_name  = "orders"
  image_uri   = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/stream-rerun-test:v1"
  vpc_id      = "vpc-0123456789abcdef0"
  subnet_ids  = ["subnet-0123456789abcdef0"]
}

run "each_named_consumer_gets_its_lag_errors_and_concurrency" {
  command = plan

  variables {
    consumer_function_names = ["orders-indexer", "orders-mailer"]
  }

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "stream-rerun-test"
    error_message = "the dashboard is not named <name>-<environment>"
  }
  assert {
    condition = alltrue(flatten([for f in ["orders-indexer", "orders-mailer"] : [
      for m in ["IteratorAge", "Errors", "ConcurrentExecutions"] :
      strcontains(aws_cloudwatch_dashboard.this.dashboard_body, trimsuffix(jsonencode(["AWS/Lambda", m, "FunctionName", f]), "]"))
    ]]))
    error_message = "a named consumer lacks its IteratorAge, Errors or ConcurrentExecutions line"
  }
  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 8
    error_message = "expected the intro, four worker widgets and three consumer widgets"
  }
  assert {
    condition     = length(distinct([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.width])) == 1
    error_message = "every widget must have the same width (one time axis down the page)"
  }
}

run "no_consumer_no_consumer_widget_and_the_workers_metrics" {
  command = plan

  assert {
    condition     = !strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "AWS/Lambda")
    error_message = "consumer widgets exist without consumer_function_names"
  }
  assert {
    condition = alltrue([for m in ["TouchedItems", "ConsumedWCU", "WcuCap", "ThrottledStatements", "FailedItems"] :
    strcontains(aws_cloudwatch_dashboard.this.dashboard_body, trimsuffix(jsonencode(["ddb-stream-rerun", m, "table", "orders", "environment", "test"]), "]"))])
    error_message = "a worker widget does not read its metric under the table and environment dimensions"
  }
  assert {
    condition     = !strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "annotations")
    error_message = "no max_wcu_per_second, so no line for it"
  }
  assert {
    condition     = output.dashboard_url == "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/stream-rerun-test" && output.run_task_config.dashboard_url == output.dashboard_url
    error_message = "the dashboard's console URL is not in the outputs and the run configuration"
  }
  assert {
    condition     = output.run_task_config.dashboard_name == "stream-rerun-test"
    error_message = "the run configuration does not name the dashboard"
  }
  assert {
    condition     = output.run_task_config.confirm_runs == true
    error_message = "confirm_runs must default to true in the run configuration"
  }
}

run "an_empty_namespace_leaves_the_consumers_and_confirm_runs_false_reaches_the_launcher" {
  command = plan

  variables {
    metrics_namespace       = ""
    consumer_function_names = ["orders-indexer"]
    confirm_runs            = false
  }

  assert {
    condition     = !strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "TouchedItems") && length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 4
    error_message = "without metrics_namespace the worker emits nothing: only the intro and the consumer widgets"
  }
  assert {
    condition     = output.run_task_config.confirm_runs == false
    error_message = "confirm_runs = false does not reach the launcher"
  }
}

run "the_deployment_cap_is_a_line_on_the_wcu_widget" {
  command = plan

  variables {
    max_wcu_per_second = 500
  }

  assert {
    condition     = one([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.annotations.horizontal[0].value if can(w.properties.annotations)]) == 500
    error_message = "max_wcu_per_second is not drawn on the write-units widget"
  }
}

run "the_task_may_read_its_consumers_and_the_operator_the_plan" {
  command = plan

  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "WatchConsumers"]) == toset(["lambda:ListEventSourceMappings", "cloudwatch:GetMetricData"]) && one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "WatchConsumers"]) == toset(["*"])
    error_message = "the task role must grant ListEventSourceMappings and GetMetricData (on *: neither has a resource type)"
  }
  assert {
    condition     = contains(one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "DescribeAndTouchTable"]), "dynamodb:DescribeKinesisStreamingDestination") && one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "DescribeAndTouchTable"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/orders"])
    error_message = "DescribeKinesisStreamingDestination must be granted on the table"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.operator.statement : s.actions if s.sid == "PlanReadTable"]) == toset(["dynamodb:DescribeTable", "dynamodb:DescribeKinesisStreamingDestination"]) && one([for s in data.aws_iam_policy_document.operator.statement : s.resources if s.sid == "PlanReadTable"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/orders"])
    error_message = "the operator must read the table for the plan, on the table only"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.operator.statement : s.actions if s.sid == "PlanListConsumers"]) == toset(["lambda:ListEventSourceMappings"]) && one([for s in data.aws_iam_policy_document.operator.statement : s.resources if s.sid == "PlanListConsumers"]) == toset(["*"])
    error_message = "the operator must list the stream's event source mappings for the plan"
  }
}

run "a_consumer_arn_is_refused" {
  command = plan
  variables {
    consumer_function_names = ["arn:aws:lambda:eu-west-1:123456789012:function:orders-indexer"]
  }
  expect_failures = [var.consumer_function_names]
}
