output "run_task_config" {
  description = "What the launcher reads (also in SSM)."
  value       = module.stream_rerun.run_task_config
}

output "run_task_config_parameter" {
  description = "The SSM parameter holding it."
  value       = module.stream_rerun.run_task_config_parameter
}

output "ecr_repository_url" {
  description = "Where make push pushes the image."
  value       = module.stream_rerun.ecr_repository_url
}

output "cpu_architecture" {
  description = "The task's CPU architecture."
  value       = module.stream_rerun.cpu_architecture
}

output "runbook_name" {
  description = "The SSM Automation runbook that runs the task."
  value       = module.stream_rerun.runbook_name
}

output "operator_policy_arn" {
  description = "Attach this managed policy to whoever runs make rerun."
  value       = module.stream_rerun.operator_policy_arn
}

output "task_definition_arn" {
  description = "The worker's task definition."
  value       = module.stream_rerun.task_definition_arn
}

output "dashboard_url" {
  description = "The run dashboard in the CloudWatch console."
  value       = module.stream_rerun.dashboard_url
}
