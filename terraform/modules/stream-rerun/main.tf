# ddb-stream-rerun: an ECS/Fargate task that re-fires DynamoDB Streams events, and what runs it.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  prefix         = "${var.name}-${var.environment}"
  region         = data.aws_region.current.name
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  container_name = "worker"
  log_prefix     = "rerun"
  cluster_arn    = var.cluster_arn != null ? var.cluster_arn : aws_ecs_cluster.this[0].arn
  cluster_name   = element(split("/", local.cluster_arn), length(split("/", local.cluster_arn)) - 1)
  table_arn      = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.table_name}"
  index_names    = distinct(concat(var.gsi_name == null ? [] : [var.gsi_name], var.extra_index_names))
  ecr_repository = var.create_ecr_repository ? aws_ecr_repository.this[0].arn : var.ecr_repository_arn

  # Table-level defaults of the worker's settings; the selection (HASH_KEY_VALUE, GSI_DATE, ...) comes per run.
  # Names must be settings the worker knows (tests compare them with stream_rerun.config.Settings).
  worker_environment = { for k, v in {
    TABLE_NAME               = var.table_name
    HASH_KEY_NAME            = var.hash_key_name
    GSI_NAME                 = var.gsi_name
    REVISION_ATTRIBUTE       = var.revision_attribute
    RERUN_MARKER_ATTRIBUTE   = var.rerun_marker_attribute
    CONCURRENCY              = tostring(var.concurrency)
    MAX_ITEMS_PER_SECOND     = var.max_items_per_second == null ? null : tostring(var.max_items_per_second)
    MAX_WCU_PER_SECOND       = var.max_wcu_per_second == null ? null : tostring(var.max_wcu_per_second)
    MAX_WCU_PERCENT          = var.max_wcu_percent == null ? null : tostring(var.max_wcu_percent)
    MAX_RCU_PER_SECOND       = var.max_rcu_per_second == null ? null : tostring(var.max_rcu_per_second)
    MAX_CONSUMER_LAG_SECONDS = var.max_consumer_lag_seconds == null ? null : tostring(var.max_consumer_lag_seconds)
    LOG_LEVEL                = var.log_level
    METRICS_NAMESPACE        = var.metrics_namespace
    METRICS_ENVIRONMENT      = var.environment
    FAILED_KEYS_OUT          = var.failed_keys_s3_prefix
    EXPORT_S3_URI            = var.export_s3_prefix
  } : k => v if v != null }

  tags = merge(var.tags, { "app" = "ddb-stream-rerun", "environment" = var.environment })
}

# ---- Cluster (created unless an existing one is given) ----
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/clusters.html
resource "aws_ecs_cluster" "this" {
  count = var.cluster_arn == null ? 1 : 0
  name  = local.prefix

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = local.tags
}

# FARGATE_SPOT next to FARGATE, so a run may ask for Spot (launcher --spot, fargate_spot). ECS never falls back from
# FARGATE_SPOT to FARGATE by itself: the launcher and the runbook start a task on FARGATE when Spot capacity is short.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html
resource "aws_ecs_cluster_capacity_providers" "this" {
  count              = var.cluster_arn == null ? 1 : 0
  cluster_name       = aws_ecs_cluster.this[0].name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# ---- Image repository (optional) ----
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html
resource "aws_ecr_repository" "this" {
  count                = var.create_ecr_repository ? 1 : 0
  name                 = local.prefix
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = local.tags
}

# ---- Logs ----
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (var.log_kms_key_arn); CloudWatch Logs encrypts at rest by default
  name              = "/ecs/${local.prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = local.tags
}

# ---- Task definition ----
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html
resource "aws_ecs_task_definition" "this" {
  family                   = local.prefix
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.task_exec.arn
  task_role_arn            = aws_iam_role.tasks.arn

  # The root filesystem is read-only; /tmp is task storage (the re-drive file is spooled there before its upload).
  # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html
  volume {
    name = "scratch"
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    {
      name                   = local.container_name
      image                  = var.image_uri
      essential              = true
      user                   = "10001:10001"
      readonlyRootFilesystem = true
      mountPoints            = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
      stopTimeout            = var.stop_timeout
      # An init process (PID 1) forwards StopTask's SIGTERM to the worker and reaps what it leaves.
      linuxParameters = { initProcessEnabled = true }
      environment     = [for k in sort(keys(local.worker_environment)) : { name = k, value = local.worker_environment[k] }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = local.region
          awslogs-stream-prefix = local.log_prefix
          # Blocking: a line the driver cannot hand to CloudWatch Logs yet waits rather than being dropped (the
          # default became non-blocking in 2025); the summary and the embedded metrics must never be lost. The cost:
          # a CloudWatch Logs outage slows the worker's writes to stdout, which the worker tolerates.
          mode = "blocking"
        }
      }
    }
  ])

  tags = local.tags
}

# ---- Network: no ingress, HTTPS out only ----
# https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-ddb.html (gateway endpoint for private subnets)
resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:attached at run time by RunTask (launcher and runbook), not by a resource here
  name        = local.prefix
  description = "ddb-stream-rerun task: no ingress, HTTPS egress to AWS APIs only"
  vpc_id      = var.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to DynamoDB, ECR, CloudWatch Logs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# ---- Run configuration for the launcher (make rerun) ----
resource "aws_ssm_parameter" "run_task_config" {
  #checkov:skip=CKV2_AWS_34:not a secret (names and ids only); a String lets operators read it without KMS access
  name        = "/${var.name}/${var.environment}/run-task-config"
  description = "How to start the ddb-stream-rerun task in ${var.environment} (read by stream-rerun-launch)."
  type        = "String"
  value       = jsonencode(local.run_task_config)
  tags        = local.tags
}

locals {
  run_task_config = {
    cluster           = local.cluster_arn
    task_definition   = aws_ecs_task_definition.this.family
    container_name    = local.container_name
    subnets           = var.subnet_ids
    security_groups   = [aws_security_group.this.id]
    assign_public_ip  = var.assign_public_ip
    log_group         = aws_cloudwatch_log_group.this.name
    log_stream_prefix = local.log_prefix
    region            = local.region
    runbook           = aws_ssm_document.runbook.name
    worker_defaults   = local.worker_environment # the task definition's settings, for the launcher's checks
    spot              = var.fargate_spot         # the launcher's default for --spot
    confirm_runs      = var.confirm_runs         # on a terminal, the launcher asks before it starts a run
    dashboard_name    = aws_cloudwatch_dashboard.this.dashboard_name
    dashboard_url     = local.dashboard_url # printed by the launcher with the task's
  }
}
