# Plan-time logic of the module, with a mocked AWS provider (no credentials, no network): permissions appear only
# with their opt-ins, names are checked before anything is created. Run by `make tf-check` (terraform test).

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
  gsi_name    = "by_date"
  image_uri   = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/stream-rerun-test:v1"
  vpc_id      = "vpc-0123456789abcdef0"
  subnet_ids  = ["subnet-0123456789abcdef0"]
}

run "defaults_grant_no_scan_no_s3_no_kms" {
  command = plan

  assert {
    condition     = !contains([for s in data.aws_iam_policy_document.tasks.statement : s.sid], "ScanWholeTable")
    error_message = "Scan is granted without allow_full_table_scan"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.tasks.statement : s.sid if contains(["ReadKeyFiles", "DecryptKeyFiles", "WriteRedriveFiles", "EncryptRedriveFiles"], s.sid)]) == 0
    error_message = "S3 or KMS is granted without keys_file_s3_prefix or failed_keys_s3_prefix"
  }
  assert {
    condition     = !strcontains(aws_ecs_task_definition.this.container_definitions, "FAILED_KEYS_OUT")
    error_message = "FAILED_KEYS_OUT is set without failed_keys_s3_prefix"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.tasks.statement : s.sid if contains(["ExportTable", "FollowExports", "ListExports", "WriteAndReadExports", "EncryptExports", "ReadFailureQueues", "ListFailureRecords", "ReadFailureRecords", "ReadTableStream"], s.sid)]) == 0
    error_message = "an export, queue, failure-record or stream grant appears without its opt-in"
  }
  assert {
    condition     = !strcontains(aws_ecs_task_definition.this.container_definitions, "EXPORT_S3_URI")
    error_message = "EXPORT_S3_URI is set without export_s3_prefix"
  }
  assert {
    condition     = one(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].mountPoints).containerPath == "/tmp" && one(aws_ecs_task_definition.this.volume).name == "scratch"
    error_message = "the read-only container has no writable /tmp (the re-drive spool needs one)"
  }
  assert {
    condition     = aws_ssm_parameter.run_task_config.name == "/stream-rerun/test/run-task-config"
    error_message = "the run configuration is not under /<name>/<environment>/"
  }
  assert {
    condition     = output.run_task_config.spot == false
    error_message = "Spot must be off by default"
  }
  assert {
    condition     = length(aws_cloudwatch_event_rule.task_failed) == 0 && length(aws_cloudwatch_metric_alarm.failed_items) == 0
    error_message = "alarms exist without alarm_topic_arn"
  }
}

run "alarm_topic_adds_the_task_rule_and_the_failed_items_alarm" {
  command = plan

  variables {
    alarm_topic_arn = "arn:aws:sns:eu-west-1:123456789012:oncall"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.task_failed[0].name == "stream-rerun-test-task-failed"
    error_message = "no failed-task rule"
  }
  assert {
    condition     = aws_cloudwatch_event_target.task_failed[0].arn == "arn:aws:sns:eu-west-1:123456789012:oncall"
    error_message = "the rule does not notify the topic"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.failed_items[0].metric_name == "FailedItems" && aws_cloudwatch_metric_alarm.failed_items[0].dimensions["table"] == "orders" && aws_cloudwatch_metric_alarm.failed_items[0].dimensions["environment"] == "test"
    error_message = "the alarm does not watch the worker's FailedItems metric"
  }
}

run "opt_ins_grant_exactly_their_permissions" {
  command = plan

  variables {
    name                    = "orders-rerun"
    allow_full_table_scan   = true
    keys_file_s3_prefix     = "s3://rerun-keys/orders/"
    keys_file_kms_key_arn   = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    fargate_spot            = true
    failed_keys_s3_prefix   = "s3://rerun-keys/redrive/"
    failed_keys_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "EncryptRedriveFiles"]) == toset(["kms:GenerateDataKey", "kms:Decrypt"])
    error_message = "an SSE-KMS re-drive bucket needs kms:GenerateDataKey and kms:Decrypt (multipart uploads)"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "WriteRedriveFiles"]) == toset(["s3:PutObject", "s3:AbortMultipartUpload"])
    error_message = "re-drive files need s3:AbortMultipartUpload too (a large file is a multipart upload)"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "WriteRedriveFiles"]) == toset(["arn:aws:s3:::rerun-keys/redrive/*"])
    error_message = "re-drive files are not granted exactly under their prefix"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment, { name = "FAILED_KEYS_OUT", value = "s3://rerun-keys/redrive/" })
    error_message = "failed_keys_s3_prefix is not the task's default FAILED_KEYS_OUT"
  }

  assert {
    condition     = contains([for s in data.aws_iam_policy_document.tasks.statement : s.sid], "ScanWholeTable")
    error_message = "allow_full_table_scan did not grant Scan"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "ReadKeyFiles"]) == toset(["arn:aws:s3:::rerun-keys/orders/*"])
    error_message = "key files are not granted exactly under the prefix"
  }
  assert {
    condition     = contains([for s in data.aws_iam_policy_document.tasks.statement : s.sid], "DecryptKeyFiles")
    error_message = "keys_file_kms_key_arn did not grant kms:Decrypt"
  }
  assert {
    condition     = aws_ssm_parameter.run_task_config.name == "/orders-rerun/test/run-task-config"
    error_message = "the run configuration ignores var.name"
  }
  assert {
    condition     = output.run_task_config.spot == true
    error_message = "fargate_spot does not reach the launcher"
  }
}

run "upper_case_name_is_refused" {
  command = plan
  variables {
    name = "StreamRerun"
  }
  expect_failures = [var.name]
}

run "reserved_prefix_is_refused" {
  command = plan
  variables {
    name = "aws-rerun"
  }
  expect_failures = [var.name]
}

run "prefix_without_trailing_slash_is_refused" {
  command = plan
  variables {
    keys_file_s3_prefix = "s3://rerun-keys/orders"
  }
  expect_failures = [var.keys_file_s3_prefix]
}

run "invalid_fargate_pair_is_refused" {
  command = plan
  variables {
    cpu    = 256
    memory = 4096
  }
  expect_failures = [var.memory]
}

run "container_never_drops_log_lines_and_stops_gracefully" {
  command = plan

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration.options.mode == "blocking"
    error_message = "the awslogs driver must block rather than drop lines (its default became non-blocking)"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].stopTimeout == 120
    error_message = "stop_timeout must default to Fargate's maximum, 120 s"
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].linuxParameters.initProcessEnabled == true
    error_message = "the container needs an init process (initProcessEnabled)"
  }
}

run "runbook_runs_its_script_as_the_assume_role_parameter" {
  command = apply

  assert {
    condition     = yamldecode(aws_ssm_document.runbook.content).assumeRole == "{{ AutomationAssumeRole }}"
    error_message = "the runbook's role must come from its AutomationAssumeRole parameter, not the document"
  }
  assert {
    condition     = yamldecode(aws_ssm_document.runbook.content).parameters.AutomationAssumeRole.default == aws_iam_role.runbook.arn
    error_message = "AutomationAssumeRole must default to the module's runbook role"
  }
  assert {
    condition     = yamldecode(aws_ssm_document.runbook.content).mainSteps[0].inputs.Script == chomp(file("${path.module}/runbook_script.py"))
    error_message = "the RunTask step does not run runbook_script.py as it is"
  }
}

run "cluster_name_instead_of_arn_is_refused" {
  command = plan
  variables {
    cluster_arn = "stream-rerun-prod"
  }
  expect_failures = [var.cluster_arn]
}

run "export_prefix_grants_exactly_the_export_and_nothing_of_failed_batches" {
  command = plan

  variables {
    export_s3_prefix   = "s3://rerun-exports/orders/"
    export_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "ExportTable"]) == toset(["dynamodb:ExportTableToPointInTime", "dynamodb:DescribeContinuousBackups"]) && one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "ExportTable"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/orders"])
    error_message = "export_s3_prefix must grant ExportTableToPointInTime and DescribeContinuousBackups on the table"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "FollowExports"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/orders/export/*"]) && one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "FollowExports"]) == toset(["dynamodb:DescribeExport"])
    error_message = "DescribeExport must be granted on the table's exports only"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "ListExports"]) == toset(["dynamodb:ListExports"]) && one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "ListExports"]) == toset(["*"])
    error_message = "ListExports (no resource type) must be granted alone on *"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "WriteAndReadExports"]) == toset(["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]) && one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "WriteAndReadExports"]) == toset(["arn:aws:s3:::rerun-exports/orders/*"])
    error_message = "the export's S3 writes and reads must be granted exactly under export_s3_prefix"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "EncryptExports"]) == toset(["arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-12ab-34cd-56ef-1234567890ab"])
    error_message = "export_kms_key_arn did not grant its key"
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.this.container_definitions)[0].environment, { name = "EXPORT_S3_URI", value = "s3://rerun-exports/orders/" })
    error_message = "export_s3_prefix is not the task's default EXPORT_S3_URI"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.tasks.statement : s.sid if contains(["ReadFailureQueues", "ListFailureRecords", "ReadFailureRecords", "ReadTableStream"], s.sid)]) == 0
    error_message = "export_s3_prefix must not grant queues, failure records or the stream read"
  }
}

run "failure_queues_grant_the_queues_and_the_stream_read_only" {
  command = plan

  variables {
    failure_queue_arns = ["arn:aws:sqs:eu-west-1:123456789012:indexer-on-failure", "arn:aws:sqs:eu-west-1:123456789012:mailer-on-failure"]
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "ReadFailureQueues"]) == toset(["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]) && one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "ReadFailureQueues"]) == toset(["arn:aws:sqs:eu-west-1:123456789012:indexer-on-failure", "arn:aws:sqs:eu-west-1:123456789012:mailer-on-failure"])
    error_message = "failure_queue_arns must grant the four SQS actions on exactly those queues"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.actions if s.sid == "ReadTableStream"]) == toset(["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"]) && one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "ReadTableStream"]) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/*"])
    error_message = "failed batches must grant the stream read on the table's stream/* only"
  }
  assert {
    condition     = length([for s in data.aws_iam_policy_document.tasks.statement : s.sid if contains(["ExportTable", "FollowExports", "ListExports", "WriteAndReadExports", "ListFailureRecords", "ReadFailureRecords"], s.sid)]) == 0
    error_message = "failure_queue_arns must not grant exports or S3"
  }
}

run "failure_records_prefix_grants_listing_that_prefix_and_the_stream_read" {
  command = plan

  variables {
    failed_batches_s3_prefix = "s3://rerun-failures/indexer/"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "ListFailureRecords"]) == toset(["arn:aws:s3:::rerun-failures"]) && toset(one(one([for s in data.aws_iam_policy_document.tasks.statement : s.condition if s.sid == "ListFailureRecords"])).values) == toset(["indexer/*"]) && one(one([for s in data.aws_iam_policy_document.tasks.statement : s.condition if s.sid == "ListFailureRecords"])).variable == "s3:prefix"
    error_message = "ListBucket must be granted on the bucket for the prefix only"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.tasks.statement : s.resources if s.sid == "ReadFailureRecords"]) == toset(["arn:aws:s3:::rerun-failures/indexer/*"])
    error_message = "failure records must be readable exactly under failed_batches_s3_prefix"
  }
  assert {
    condition     = contains([for s in data.aws_iam_policy_document.tasks.statement : s.sid], "ReadTableStream") && !contains([for s in data.aws_iam_policy_document.tasks.statement : s.sid], "ReadFailureQueues")
    error_message = "S3 failure records need the stream read, and no queue"
  }
}

run "failure_queue_name_instead_of_arn_is_refused" {
  command = plan
  variables {
    failure_queue_arns = ["https://sqs.eu-west-1.amazonaws.com/123456789012/indexer-on-failure"]
  }
  expect_failures = [var.failure_queue_arns]
}
