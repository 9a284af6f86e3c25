# ddb-stream-rerun in dev: the module with this environment's values (see terraform.tfvars.example).
module "stream_rerun" {
  source = "../../modules/stream-rerun"

  environment        = "dev"
  table_name         = var.table_name
  gsi_name           = var.gsi_name
  image_uri          = var.image_uri
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids
  cpu                = 512
  memory             = 1024
  max_wcu_per_second = 100
  log_kms_key_arn    = var.log_kms_key_arn
}

output "run_task_config" {
  description = "What the launcher reads (also in SSM)."
  value       = module.stream_rerun.run_task_config
}

output "ecr_repository_url" {
  description = "Where make push ENV=dev pushes the image."
  value       = module.stream_rerun.ecr_repository_url
}

output "runbook_name" {
  description = "The SSM Automation runbook that runs the task."
  value       = module.stream_rerun.runbook_name
}
