output "cluster_arn" {
  description = "ARN of the ECS cluster the task runs in."
  value       = local.cluster_arn
}

output "task_definition_arn" {
  description = "ARN (with revision) of the worker's task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "task_definition_family" {
  description = "Family of the worker's task definition (RunTask takes it to run the latest revision)."
  value       = aws_ecs_task_definition.this.family
}

output "ecr_repository_url" {
  description = "URL of the created ECR repository (null when not created); make push tags and pushes the image here."
  value       = var.create_ecr_repository ? aws_ecr_repository.this[0].repository_url : null
}

output "log_group_name" {
  description = "CloudWatch log group of the task; streams are <prefix>/worker/<task-id>."
  value       = aws_cloudwatch_log_group.this.name
}

output "task_role_arn" {
  description = "ARN of the task role (the DynamoDB permissions)."
  value       = aws_iam_role.tasks.arn
}

output "task_execution_role_arn" {
  description = "ARN of the task execution role (image pull, logs)."
  value       = aws_iam_role.task_exec.arn
}

output "security_group_id" {
  description = "Security group of the task: no ingress, HTTPS egress."
  value       = aws_security_group.this.id
}

output "runbook_name" {
  description = "Name of the SSM Automation runbook that starts the task and asserts its exit code."
  value       = aws_ssm_document.runbook.name
}

output "run_task_config" {
  description = "The launcher's run configuration (also in SSM at run_task_config_parameter)."
  value       = local.run_task_config
}

output "cpu_architecture" {
  description = "CPU architecture of the task (ARM64 or X86_64): make push builds the image for it."
  value       = var.cpu_architecture
}

output "operator_policy_arn" {
  description = "Managed IAM policy holding exactly what make rerun needs (RunTask, follow, stop, logs, runbook): attach it to operators."
  value       = aws_iam_policy.operator.arn
}

output "run_task_config_parameter" {
  description = "SSM parameter holding run_task_config as JSON."
  value       = aws_ssm_parameter.run_task_config.name
}

output "dashboard_name" {
  description = "Name of the run dashboard (<name>-<environment>): the worker's writes and the consumers' lag on one time axis."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the run dashboard (the launcher prints it with the task's)."
  value       = local.dashboard_url
}
