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
  description = "The worker image (make push ENV=prod prints it)."
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
