variable "region" {
  description = "AWS region of the table and the task."
  type        = string
}

variable "table_name" {
  description = "The DynamoDB table to re-fire."
  type        = string
}

variable "gsi_name" {
  description = "The table's date index, or null."
  type        = string
  default     = null
}

variable "image_uri" {
  description = "The worker image, pinned by digest: make push ENV=dev writes it to image.auto.tfvars.json."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the task."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the task (with a DynamoDB gateway endpoint, or NAT)."
  type        = list(string)
}

variable "log_kms_key_arn" {
  description = "KMS key for the log group, or null."
  type        = string
  default     = null
}

variable "name" {
  description = "Name prefix of every resource and of the SSM parameter path (the launcher's --name / NAME)."
  type        = string
  default     = "stream-rerun"
  nullable    = false
}

variable "hash_key_name" {
  description = "Optional check of the table's partition key name (HASH_KEY_NAME)."
  type        = string
  default     = null
}

variable "extra_index_names" {
  description = "Further indexes runs may name in GSI_NAME."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "cpu_architecture" {
  description = "ARM64 or X86_64; make push builds the image for it."
  type        = string
  default     = "ARM64"
  nullable    = false
}

variable "max_wcu_per_second" {
  description = "Default MAX_WCU_PER_SECOND of every run (one partition serves at most 1,000 WCU/s)."
  type        = number
  default     = 100
}

variable "allow_full_table_scan" {
  description = "Grant dynamodb:Scan so runs may use ALL_ITEMS=true."
  type        = bool
  default     = false
  nullable    = false
}

variable "keys_file_s3_prefix" {
  description = "s3://bucket/prefix/ whose objects (key files, DynamoDB exports) KEYS_FILE may name; null disables s3:// key files."
  type        = string
  default     = null
}

variable "keys_file_kms_key_arn" {
  description = "KMS key of an SSE-KMS key-file bucket (kms:Decrypt through S3), or null."
  type        = string
  default     = null
}

variable "failed_keys_s3_prefix" {
  description = "s3://bucket/prefix/ where every run writes its re-drive file (<RUN_ID>.jsonl), or null."
  type        = string
  default     = null
}

variable "failed_keys_kms_key_arn" {
  description = "KMS key of an SSE-KMS re-drive bucket (kms:GenerateDataKey and kms:Decrypt through S3), or null."
  type        = string
  default     = null
}

variable "export_s3_prefix" {
  description = "s3://bucket/prefix/ where CHANGED_FROM runs write incremental exports (the task's EXPORT_S3_URI), or null: no CHANGED_FROM. The table needs point-in-time recovery."
  type        = string
  default     = null
}

variable "export_kms_key_arn" {
  description = "KMS key of an SSE-KMS export bucket (kms:GenerateDataKey and kms:Decrypt through S3 and DynamoDB), or null."
  type        = string
  default     = null
}

variable "failure_queue_arns" {
  description = "SQS on-failure queues of the table's Lambda consumers that FAILED_BATCHES_FROM may read (and, with DELETE_SETTLED_MESSAGES, delete from)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "failed_batches_s3_prefix" {
  description = "s3://bucket/prefix/ of Lambda's S3 on-failure records or queue dumps that FAILED_BATCHES_FROM may read, or null."
  type        = string
  default     = null
}

variable "fargate_spot" {
  description = "Run on FARGATE_SPOT by default (the launcher and the runbook start a task on FARGATE when Spot capacity is short)."
  type        = bool
  default     = false
  nullable    = false
}

variable "alarm_topic_arn" {
  description = "SNS topic for the failed-task rule and the failed-items alarm, or null for none."
  type        = string
  default     = null
}

variable "consumer_function_names" {
  description = "Lambda functions consuming the table's stream: the run dashboard shows their iterator age, errors and concurrency."
  type        = list(string)
  default     = []
  nullable    = false
}
