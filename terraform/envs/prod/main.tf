# ddb-stream-rerun in prod: the module with this environment's values (see terraform.tfvars.example). Every module
# option an operator needs is a variable here, so a run's permissions (Scan, key files) are a tfvars change away.
module "stream_rerun" {
  source = "../../modules/stream-rerun"

  name                     = var.name
  environment              = "prod"
  table_name               = var.table_name
  hash_key_name            = var.hash_key_name
  gsi_name                 = var.gsi_name
  extra_index_names        = var.extra_index_names
  image_uri                = var.image_uri
  cpu_architecture         = var.cpu_architecture
  vpc_id                   = var.vpc_id
  subnet_ids               = var.subnet_ids
  cpu                      = 1024
  memory                   = 2048
  max_wcu_per_second       = var.max_wcu_per_second
  log_kms_key_arn          = var.log_kms_key_arn
  allow_full_table_scan    = var.allow_full_table_scan
  keys_file_s3_prefix      = var.keys_file_s3_prefix
  keys_file_kms_key_arn    = var.keys_file_kms_key_arn
  failed_keys_s3_prefix    = var.failed_keys_s3_prefix
  failed_keys_kms_key_arn  = var.failed_keys_kms_key_arn
  export_s3_prefix         = var.export_s3_prefix
  export_kms_key_arn       = var.export_kms_key_arn
  failure_queue_arns       = var.failure_queue_arns
  failed_batches_s3_prefix = var.failed_batches_s3_prefix
  fargate_spot             = var.fargate_spot
  alarm_topic_arn          = var.alarm_topic_arn
  consumer_function_names  = var.consumer_function_names
  confirm_runs             = true # prod: on a terminal, the launcher shows the plan and asks
}

output "run_task_config" {
  description = "What the launcher reads (also in SSM)."
  value       = module.stream_rerun.run_task_config
}

output "ecr_repository_url" {
  description = "Where make push ENV=prod pushes the image."
  value       = module.stream_rerun.ecr_repository_url
}

output "cpu_architecture" {
  description = "The task's CPU architecture: make push builds the image for it."
  value       = module.stream_rerun.cpu_architecture
}

output "runbook_name" {
  description = "The SSM Automation runbook that runs the task."
  value       = module.stream_rerun.runbook_name
}

output "dashboard_url" {
  description = "The run dashboard of prod in the CloudWatch console."
  value       = module.stream_rerun.dashboard_url
}

output "operator_policy_arn" {
  description = "Attach this managed policy to whoever runs make rerun ENV=prod."
  value       = module.stream_rerun.operator_policy_arn
}
