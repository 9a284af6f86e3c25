# Every option of the stream-rerun module, with the values a production deployment might give (see README.md).
# The moto chain test (tests/terraform/test_chain.py) applies this folder.
module "stream_rerun" {
  source = "../../modules/stream-rerun"

  # naming
  name        = var.name
  environment = var.environment
  tags        = { team = "orders", cost-center = "1234" }

  # the table and the worker's table-level settings
  table_name               = var.table_name
  hash_key_name            = "pk"
  gsi_name                 = var.gsi_name
  extra_index_names        = ["by_customer"]
  revision_attribute       = "revision"
  rerun_marker_attribute   = "rerun_id"
  concurrency              = 16
  max_items_per_second     = 2000
  max_wcu_per_second       = 500
  max_wcu_percent          = 20
  max_rcu_per_second       = 500
  max_consumer_lag_seconds = 300
  log_level                = "INFO"
  metrics_namespace        = "ddb-stream-rerun"

  # image
  image_uri             = var.image_uri
  create_ecr_repository = var.ecr_repository_arn == null
  ecr_repository_arn    = var.ecr_repository_arn

  # task
  cluster_arn      = var.cluster_arn
  cpu_architecture = "X86_64" # FARGATE_SPOT below
  cpu              = 1024
  memory           = 2048
  stop_timeout     = 120

  # logs
  log_retention_days = 365
  log_kms_key_arn    = var.log_kms_key_arn

  # network
  vpc_id           = var.vpc_id
  subnet_ids       = var.subnet_ids
  assign_public_ip = false

  # runbook
  runbook_timeout_seconds = 43200

  # whole-table runs, key files and exports, re-drive files
  allow_full_table_scan   = true
  keys_file_s3_prefix     = var.keys_file_s3_prefix
  keys_file_kms_key_arn   = var.keys_file_kms_key_arn
  failed_keys_s3_prefix   = var.failed_keys_s3_prefix
  failed_keys_kms_key_arn = var.failed_keys_kms_key_arn

  # incident selections: a time window of changes (CHANGED_FROM), the batches a consumer failed (FAILED_BATCHES_FROM)
  export_s3_prefix         = var.export_s3_prefix
  export_kms_key_arn       = var.export_kms_key_arn
  failure_queue_arns       = var.failure_queue_arns
  failed_batches_s3_prefix = var.failed_batches_s3_prefix

  # capacity and alarms
  fargate_spot    = true
  alarm_topic_arn = var.alarm_topic_arn

  # the stream's consumers on the run dashboard; the launcher asks before a run
  consumer_function_names = var.consumer_function_names
  confirm_runs            = true
}
