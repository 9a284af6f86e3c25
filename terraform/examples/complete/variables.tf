variable "region" {
  description = "AWS region of the table and the task."
  type        = string
}

variable "name" {
  description = "Name prefix of every resource (the launcher's --name)."
  type        = string
  default     = "stream-rerun"
  nullable    = false
}

variable "environment" {
  description = "Environment name: part of every resource name and of the SSM parameter path."
  type        = string
  default     = "example"
  nullable    = false
}

variable "table_name" {
  description = "The DynamoDB table to re-fire."
  type        = string
}

variable "gsi_name" {
  description = "The table's date index."
  type        = string
  default     = "by_date"
  nullable    = false
}

variable "image_uri" {
  description = "The worker image, pinned by digest (make push prints it)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "An existing ECR repository holding the image; null creates one."
  type        = string
  default     = null
}

variable "cluster_arn" {
  description = "An existing ECS cluster's ARN; null creates one."
  type        = string
  default     = null
}

variable "log_kms_key_arn" {
  description = "KMS key of the log group, or null."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC of the task."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the task (with a DynamoDB gateway endpoint, or NAT)."
  type        = list(string)
}

variable "keys_file_s3_prefix" {
  description = "s3://bucket/prefix/ of key files and exports."
  type        = string
  default     = "s3://rerun-keys/orders/"
  nullable    = false
}

variable "keys_file_kms_key_arn" {
  description = "KMS key of the key-file bucket (SSE-KMS), or null."
  type        = string
  default     = null
}

variable "failed_keys_s3_prefix" {
  description = "s3://bucket/prefix/ of the re-drive files."
  type        = string
  default     = "s3://rerun-keys/redrive/"
  nullable    = false
}

variable "failed_keys_kms_key_arn" {
  description = "KMS key of the re-drive bucket (SSE-KMS), or null."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic of the alarms, or null."
  type        = string
  default     = null
}

variable "export_s3_prefix" {
  description = "s3://bucket/prefix/ of the incremental exports (CHANGED_FROM)."
  type        = string
  default     = "s3://rerun-exports/orders/"
  nullable    = false
}

variable "export_kms_key_arn" {
  description = "KMS key of the export bucket (SSE-KMS), or null."
  type        = string
  default     = null
}

variable "failure_queue_arns" {
  description = "SQS on-failure queues of the table's Lambda consumers (FAILED_BATCHES_FROM)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "failed_batches_s3_prefix" {
  description = "s3://bucket/prefix/ of Lambda's S3 on-failure records (FAILED_BATCHES_FROM), or null."
  type        = string
  default     = "s3://rerun-failures/orders-indexer/"
}

variable "consumer_function_names" {
  description = "Lambda functions consuming the table's stream, shown on the run dashboard."
  type        = list(string)
  default     = ["orders-indexer", "orders-mailer"]
  nullable    = false
}
