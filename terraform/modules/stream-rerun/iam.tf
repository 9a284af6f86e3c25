# ---- Task execution role: pull the image, write the logs ----
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    sid     = "EcsTasksAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Confused-deputy guard: only ECS acting for this account may assume the roles.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "task_exec" {
  name               = "${local.prefix}-exec"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "task_exec" {
  statement {
    # The log group's ARN with ":*", as AWS's own examples write it: it covers the group (CreateLogStream is authorised
    # on the log-group) and its streams (PutLogEvents, on log-stream). The provider's arn has no ":*" of its own.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.ecr_repository == null ? [] : [local.ecr_repository]
    content {
      sid       = "PullImage"
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.ecr_repository == null ? [] : [local.ecr_repository]
    content {
      # GetAuthorizationToken has no resource-level permissions: AWS accepts only "*" here
      # (https://docs.aws.amazon.com/AmazonECR/latest/userguide/security_iam_id-based-policy-examples.html).
      sid       = "EcrLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "task_exec" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.task_exec.id
  policy = data.aws_iam_policy_document.task_exec.json
}

# ---- Task role: exactly the DynamoDB actions the worker calls ----
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-iam.html (PartiQLUpdate for UPDATE statements)
locals {
  # Must equal stream_rerun.aws.DYNAMODB_ACTIONS (a test compares them).
  dynamodb_table_actions = [
    "dynamodb:DescribeTable",
    "dynamodb:DescribeKinesisStreamingDestination",
    "dynamodb:PartiQLUpdate",
  ]
  dynamodb_query_actions = ["dynamodb:Query"]
  dynamodb_scan_actions  = ["dynamodb:Scan"] # only with allow_full_table_scan (ALL_ITEMS=true)
  keys_file_object_arn   = var.keys_file_s3_prefix == null ? null : "arn:${local.partition}:s3:::${trimprefix(var.keys_file_s3_prefix, "s3://")}*"
  failed_keys_object_arn = var.failed_keys_s3_prefix == null ? null : "arn:${local.partition}:s3:::${trimprefix(var.failed_keys_s3_prefix, "s3://")}*"

  # Must equal stream_rerun.aws.EXPORT_ACTIONS and STREAM_READ_ACTIONS (a test compares them with their opt-ins).
  dynamodb_export_table_actions = ["dynamodb:ExportTableToPointInTime", "dynamodb:DescribeContinuousBackups"]
  dynamodb_export_read_actions  = ["dynamodb:DescribeExport"]
  dynamodb_export_list_actions  = ["dynamodb:ListExports"]
  dynamodb_stream_read_actions  = ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"]
  failure_queue_actions         = ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
  # Must equal stream_rerun.aws.CONSUMER_ACTIONS (a test compares them): the stream's consumers, read-only.
  consumer_actions  = ["lambda:ListEventSourceMappings", "cloudwatch:GetMetricData"]
  export_object_arn = var.export_s3_prefix == null ? null : "arn:${local.partition}:s3:::${trimprefix(var.export_s3_prefix, "s3://")}*"
  table_exports_arn = "${local.table_arn}/export/*"
  table_streams_arn = "${local.table_arn}/stream/*"
  any_resource      = "*"
  # s3://bucket/prefix/ -> the bucket's ARN (ListBucket) and the prefix's objects (GetObject)
  failure_records_parts      = var.failed_batches_s3_prefix == null ? null : regex("^s3://([^/]+)/(.*)$", var.failed_batches_s3_prefix)
  failure_records_bucket_arn = var.failed_batches_s3_prefix == null ? null : "arn:${local.partition}:s3:::${local.failure_records_parts[0]}"
  failure_records_object_arn = var.failed_batches_s3_prefix == null ? null : "arn:${local.partition}:s3:::${trimprefix(var.failed_batches_s3_prefix, "s3://")}*"
  # FAILED_BATCHES_FROM is usable with a queue, or with S3 records or dumps: both may need the stream read back.
  failed_batches_enabled = length(var.failure_queue_arns) > 0 || var.failed_batches_s3_prefix != null
}

resource "aws_iam_role" "tasks" {
  name               = "${local.prefix}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = local.tags
}

data "aws_iam_policy_document" "tasks" {
  statement {
    sid       = "DescribeAndTouchTable"
    actions   = local.dynamodb_table_actions
    resources = [local.table_arn]
  }

  statement {
    sid       = "QuerySelection"
    actions   = local.dynamodb_query_actions
    resources = concat([local.table_arn], [for i in local.index_names : "${local.table_arn}/index/${i}"])
  }

  dynamic "statement" {
    for_each = var.allow_full_table_scan ? [local.table_arn] : []
    content {
      sid       = "ScanWholeTable"
      actions   = local.dynamodb_scan_actions
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = local.keys_file_object_arn == null ? [] : [local.keys_file_object_arn]
    content {
      sid       = "ReadKeyFiles"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html (GetObject of SSE-KMS objects)
  dynamic "statement" {
    for_each = var.keys_file_kms_key_arn == null || local.keys_file_object_arn == null ? [] : [var.keys_file_kms_key_arn]
    content {
      sid       = "DecryptKeyFiles"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }

  # The re-drive file (FAILED_KEYS_OUT): created empty in preflight, replaced by the keys at the end of the run.
  dynamic "statement" {
    for_each = local.failed_keys_object_arn == null ? [] : [local.failed_keys_object_arn]
    content {
      # AbortMultipartUpload: a large re-drive file is a multipart upload, which the SDK aborts when a part fails.
      sid       = "WriteRedriveFiles"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      resources = [statement.value]
    }
  }

  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html (PutObject to SSE-KMS buckets;
  # a multipart upload, which a large re-drive file takes, needs kms:Decrypt as well: mpuoverview.html#mpuAndPermissions)
  dynamic "statement" {
    for_each = var.failed_keys_kms_key_arn == null || local.failed_keys_object_arn == null ? [] : [var.failed_keys_kms_key_arn]
    content {
      sid       = "EncryptRedriveFiles"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
    }
  }

  # ---- The stream's consumers: who will see the re-fire, and how far behind they are ----
  # Preflight lists the event source mappings on the table's stream (and its Kinesis destinations' streams); with
  # MAX_CONSUMER_LAG_SECONDS the worker reads the consumers' IteratorAge once a minute, and their Errors at the end.
  # Neither action has a resource type in the Service Authorization Reference (list_awslambda.html,
  # list_amazoncloudwatch.html): "*" is the only resource either accepts. Both only read.
  statement {
    sid       = "WatchConsumers"
    actions   = local.consumer_actions
    resources = ["*"]
  }

  # ---- CHANGED_FROM: incremental exports the worker requests (export_s3_prefix) ----
  # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport_Requesting.html (permissions)
  dynamic "statement" {
    for_each = var.export_s3_prefix == null ? [] : [local.table_arn]
    content {
      # DescribeContinuousBackups: preflight reads point-in-time recovery's restorable window.
      sid       = "ExportTable"
      actions   = local.dynamodb_export_table_actions
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.export_s3_prefix == null ? [] : [local.table_exports_arn]
    content {
      sid       = "FollowExports"
      actions   = local.dynamodb_export_read_actions
      resources = [statement.value]
    }
  }

  # ListExports has no resource type in the Service Authorization Reference (list_amazondynamodb.html): "*" only.
  # A resume after the ClientToken's 8 hours finds its finished export by listing the table's exports.
  dynamic "statement" {
    for_each = var.export_s3_prefix == null ? [] : [local.any_resource]
    content {
      sid       = "ListExports"
      actions   = local.dynamodb_export_list_actions
      resources = [statement.value]
    }
  }

  # DynamoDB writes the export with the caller's permissions (PutObject, multipart); the worker reads it back.
  dynamic "statement" {
    for_each = local.export_object_arn == null ? [] : [local.export_object_arn]
    content {
      sid       = "WriteAndReadExports"
      actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.export_kms_key_arn == null || local.export_object_arn == null ? [] : [var.export_kms_key_arn]
    content {
      # DynamoDB writes the export's objects through S3 with this key; the worker reads them back through S3.
      sid       = "EncryptExports"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com", "dynamodb.${local.region}.amazonaws.com"]
      }
    }
  }

  # ---- FAILED_BATCHES_FROM: a Lambda consumer's on-failure records (failure_queue_arns, failed_batches_s3_prefix) ----
  # https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
  dynamic "statement" {
    for_each = length(var.failure_queue_arns) == 0 ? [] : [1]
    content {
      # The worker extends a message's visibility while it works, and deletes it only with DELETE_SETTLED_MESSAGES.
      sid       = "ReadFailureQueues"
      actions   = local.failure_queue_actions
      resources = var.failure_queue_arns
    }
  }

  dynamic "statement" {
    for_each = local.failure_records_bucket_arn == null ? [] : [local.failure_records_bucket_arn]
    content {
      # Lambda writes one object per failed batch: the worker lists the folder it is given, under this prefix only.
      sid       = "ListFailureRecords"
      actions   = ["s3:ListBucket"]
      resources = [statement.value]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${local.failure_records_parts[1]}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.failure_records_object_arn == null ? [] : [local.failure_records_object_arn]
    content {
      sid       = "ReadFailureRecords"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }

  # A record of the queue holds only the batch's position: its keys are read back from the table's stream.
  # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
  dynamic "statement" {
    for_each = local.failed_batches_enabled ? [local.table_streams_arn] : []
    content {
      sid       = "ReadTableStream"
      actions   = local.dynamodb_stream_read_actions
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "tasks" {
  name   = "rerun-table"
  role   = aws_iam_role.tasks.id
  policy = data.aws_iam_policy_document.tasks.json
}

# ---- Operator policy: exactly what `make rerun` (the launcher) calls ----
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
# Must equal stream_rerun.launch.OPERATOR_ACTIONS (a test compares them, and records the launcher's calls).
data "aws_iam_policy_document" "operator" {
  # RunTask on this family, tag at launch, follow and stop, pass the roles: what the runbook role may do too.
  source_policy_documents = [data.aws_iam_policy_document.run_tasks.json]

  statement {
    sid       = "ReadRunConfiguration"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.run_task_config.arn]
  }

  # The plan the launcher prints before it starts anything: the table (its stream, its Kinesis streaming destinations)
  # and the consumers on those streams, found as the worker finds them (consumers.discover). Read-only;
  # ListEventSourceMappings has no resource type (list_awslambda.html): "*" only.
  statement {
    sid       = "PlanReadTable"
    actions   = ["dynamodb:DescribeTable", "dynamodb:DescribeKinesisStreamingDestination"]
    resources = [local.table_arn]
  }

  statement {
    sid       = "PlanListConsumers"
    actions   = ["lambda:ListEventSourceMappings"]
    resources = ["*"]
  }

  # ListTasks (for --attach) lists a cluster's tasks: it is authorised on "*" only, narrowed by the ecs:cluster
  # condition (a container-instance ARN never matches on Fargate, so such a grant denies --attach).
  statement {
    sid       = "FindRunTasks"
    actions   = ["ecs:ListTasks"]
    resources = ["*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
  }

  # One FilterLogEvents per poll over the run's streams (the launcher's tail, and `aws logs tail`): authorised on the
  # log group, written with ":*" as AWS's examples do.
  statement {
    sid       = "TailTaskLogs"
    actions   = ["logs:FilterLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # The runbook runs as the role given in its AutomationAssumeRole parameter (default: the module's runbook role);
  # starting it with that role needs PassRole on it, to SSM only. Nobody without this can start production runs.
  statement {
    sid       = "PassRunbookRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.runbook.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ssm.amazonaws.com"]
    }
  }

  statement {
    sid       = "StartRunbook"
    actions   = ["ssm:StartAutomationExecution"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:automation-definition/${aws_ssm_document.runbook.name}:*"]
  }

  statement {
    sid       = "FollowRunbook"
    actions   = ["ssm:GetAutomationExecution"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:automation-execution/*"]
  }
}

resource "aws_iam_policy" "operator" {
  name        = "${local.prefix}-operator"
  description = "What an operator needs to run ddb-stream-rerun in ${var.environment} (make rerun, --runbook, --attach)."
  policy      = data.aws_iam_policy_document.operator.json
  tags        = local.tags
}
