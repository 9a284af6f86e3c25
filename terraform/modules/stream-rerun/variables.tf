# ---- Naming ----
variable "name" {
  description = "Name prefix of every resource (cluster, task definition family, roles, log group, runbook) and the first part of the SSM parameter path /<name>/<environment>/run-task-config (the launcher's --name)."
  type        = string
  default     = "stream-rerun"
  nullable    = false

  # ECR repository names must be lower case; SSM CreateDocument refuses names starting aws, amazon or amzn.
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lower-case letters, digits or hyphens, starting with a letter (ECR accepts no upper case)."
  }

  validation {
    condition     = !can(regex("^(aws|amazon|amzn)", var.name))
    error_message = "name must not start with aws, amazon or amzn (SSM refuses such document names)."
  }
}

variable "environment" {
  description = "Environment name (dev, prod, ...): part of resource names and of the SSM parameter path."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lower-case letters, digits or hyphens."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

# ---- The table (table-level settings of the worker; the selection comes per run) ----
variable "table_name" {
  description = "DynamoDB table whose items are re-fired (TABLE_NAME)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 of a-z A-Z 0-9 _ . -."
  }
}

variable "hash_key_name" {
  description = "Optional check of the table's partition key name (HASH_KEY_NAME); null leaves it unset."
  type        = string
  default     = null
}

variable "gsi_name" {
  description = "Index used by date selections (GSI_NAME); null leaves it unset. Query on it is granted."
  type        = string
  default     = null
}

variable "extra_index_names" {
  description = "Further index names the worker may Query (when runs pass another GSI_NAME)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "revision_attribute" {
  description = "REVISION_ATTRIBUTE: the number attribute every touch increments."
  type        = string
  default     = "revision"
  nullable    = false
}

variable "rerun_marker_attribute" {
  description = "RERUN_MARKER_ATTRIBUTE: set to RUN_ID by every touch; empty disables it (re-runs then fire again)."
  type        = string
  default     = "rerun_id"
  nullable    = false
}

variable "concurrency" {
  description = "CONCURRENCY: write requests (of up to 25 items) in flight at once."
  type        = number
  default     = 8
  nullable    = false

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 256 && floor(var.concurrency) == var.concurrency
    error_message = "concurrency must be a whole number from 1 to 256."
  }
}

variable "max_items_per_second" {
  description = "MAX_ITEMS_PER_SECOND default for every run; null for no cap."
  type        = number
  default     = null

  validation {
    condition     = var.max_items_per_second == null ? true : var.max_items_per_second > 0
    error_message = "max_items_per_second must be > 0 (or null)."
  }
}

variable "max_wcu_per_second" {
  description = "MAX_WCU_PER_SECOND default for every run; null for no cap. One partition takes at most 1,000 WCU/s."
  type        = number
  default     = null

  validation {
    condition     = var.max_wcu_per_second == null ? true : var.max_wcu_per_second > 0
    error_message = "max_wcu_per_second must be > 0 (or null)."
  }
}

variable "max_wcu_percent" {
  description = "MAX_WCU_PERCENT default for every run: the cap as a share of the table's write capacity (and of one partition's 1,000 WCU/s for a one-partition run); null for none."
  type        = number
  default     = null

  validation {
    condition     = var.max_wcu_percent == null ? true : var.max_wcu_percent > 0 && var.max_wcu_percent <= 100
    error_message = "max_wcu_percent must be above 0 and at most 100 (or null)."
  }
}

variable "max_rcu_per_second" {
  description = "MAX_RCU_PER_SECOND default for every run: the cap on read units the selection's Query/Scan consume per second; null for none."
  type        = number
  default     = null

  validation {
    condition     = var.max_rcu_per_second == null ? true : var.max_rcu_per_second > 0
    error_message = "max_rcu_per_second must be > 0 (or null)."
  }
}

variable "max_consumer_lag_seconds" {
  description = "MAX_CONSUMER_LAG_SECONDS default for every run: new writes pause while a watched Lambda consumer's IteratorAge is above it, until every one is below half; null for no consumer pacing."
  type        = number
  default     = null

  validation {
    condition     = var.max_consumer_lag_seconds == null ? true : var.max_consumer_lag_seconds > 0 && var.max_consumer_lag_seconds <= 86400
    error_message = "max_consumer_lag_seconds must be above 0 and at most 86400 (or null)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the worker."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

# ---- Image ----
variable "image_uri" {
  description = "Container image of the worker (make push ENV=... prints it), ideally pinned by digest."
  type        = string
}

variable "create_ecr_repository" {
  description = "Create an ECR repository (scan on push, immutable tags) for the image."
  type        = bool
  default     = true
  nullable    = false
}

variable "ecr_repository_arn" {
  description = "ARN of an existing ECR repository holding the image, when create_ecr_repository is false; null for a public image."
  type        = string
  default     = null
}

# ---- Task ----
variable "cluster_arn" {
  description = "ARN of an existing ECS cluster (arn:aws:ecs:<region>:<account>:cluster/<name>, not its name: the policies' ecs:cluster conditions compare ARNs); null creates one."
  type        = string
  default     = null

  validation {
    condition     = var.cluster_arn == null ? true : can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255}$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN (arn:aws:ecs:<region>:<account>:cluster/<name>), not a cluster name."
  }
}

variable "cpu_architecture" {
  description = "Fargate CPU architecture: ARM64 (cheaper) or X86_64. The image must be built for it."
  type        = string
  default     = "ARM64"
  nullable    = false

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "cpu" {
  description = "Task CPU units (256, 512, 1024, 2048, 4096)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096."
  }
}

variable "memory" {
  description = "Task memory in MiB; must be a valid Fargate pair with cpu."
  type        = number
  default     = 1024
  nullable    = false

  validation {
    condition = contains(
      lookup({
        "256"  = [512, 1024, 2048]
        "512"  = [1024, 2048, 3072, 4096]
        "1024" = [2048, 3072, 4096, 5120, 6144, 7168, 8192]
        "2048" = [for m in range(4096, 16385, 1024) : m]
        "4096" = [for m in range(8192, 30721, 1024) : m]
      }, tostring(var.cpu), []),
      var.memory
    )
    error_message = "memory must be a valid Fargate value for the chosen cpu (e.g. 512 CPU: 1024-4096 MiB)."
  }
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM (StopTask, a Spot reclaim) and SIGKILL: the worker finishes in-flight writes and uploads its re-drive file. Default Fargate's maximum, 120 (a Spot reclaim gives 120 s in all)."
  type        = number
  default     = 120
  nullable    = false

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds (Fargate's maximum)."
  }
}

# ---- Logs ----
variable "log_retention_days" {
  description = "Retention of the task's CloudWatch log group."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ..., 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key ARN to encrypt the log group; null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

# ---- Network ----
variable "vpc_id" {
  description = "VPC of the task's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the task runs in. Private subnets without NAT need a DynamoDB gateway endpoint (and ECR/Logs interface endpoints)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids needs at least one subnet."
  }
}

variable "assign_public_ip" {
  description = "Give the task a public IP (only for public subnets without NAT)."
  type        = bool
  default     = false
  nullable    = false
}

# ---- Runbook ----
variable "runbook_timeout_seconds" {
  description = "How long the runbook waits for the task to stop."
  type        = number
  default     = 21600
  nullable    = false

  validation {
    condition     = var.runbook_timeout_seconds >= 60 && var.runbook_timeout_seconds <= 172800
    error_message = "runbook_timeout_seconds must be between 60 and 172800."
  }
}

# ---- Whole-table and key-list runs ----
variable "allow_full_table_scan" {
  description = "Grant dynamodb:Scan on the table, so runs may use ALL_ITEMS=true (whole-table reruns)."
  type        = bool
  default     = false
  nullable    = false
}

variable "keys_file_s3_prefix" {
  description = "s3://bucket/prefix/ under which KEYS_FILE objects and DynamoDB exports (s3://bucket/prefix/AWSDynamoDB/<export-id>/) may be read (grants s3:GetObject there only); null disables s3:// key files."
  type        = string
  default     = null

  # Ending in "/" keeps s3://b/keys/ from also granting s3://b/keys-old/...
  validation {
    condition     = var.keys_file_s3_prefix == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+/$", var.keys_file_s3_prefix))
    error_message = "keys_file_s3_prefix must look like s3://bucket/prefix/ (a prefix ending in /, not the whole bucket)."
  }
}

variable "keys_file_kms_key_arn" {
  description = "KMS key of an SSE-KMS key-file bucket: grants kms:Decrypt on it (through S3 only); null for SSE-S3 buckets."
  type        = string
  default     = null

  validation {
    condition     = var.keys_file_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.keys_file_kms_key_arn))
    error_message = "keys_file_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "failed_keys_s3_prefix" {
  description = "s3://bucket/prefix/ where every run writes its re-drive file, <prefix><RUN_ID>.jsonl (the task's default FAILED_KEYS_OUT; grants s3:PutObject under it only); null: no re-drive files unless a run names a local path."
  type        = string
  default     = null

  validation {
    condition     = var.failed_keys_s3_prefix == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+/$", var.failed_keys_s3_prefix))
    error_message = "failed_keys_s3_prefix must look like s3://bucket/prefix/ (a prefix ending in /, not the whole bucket)."
  }
}

variable "failed_keys_kms_key_arn" {
  description = "KMS key of an SSE-KMS re-drive bucket: grants kms:GenerateDataKey and kms:Decrypt (multipart uploads) on it, through S3 only; null for SSE-S3 buckets."
  type        = string
  default     = null

  validation {
    condition     = var.failed_keys_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.failed_keys_kms_key_arn))
    error_message = "failed_keys_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

# ---- Incident selections: a time window of changes, the batches a consumer failed ----
variable "export_s3_prefix" {
  description = "s3://bucket/prefix/ where CHANGED_FROM runs write the table's incremental exports (the task's default EXPORT_S3_URI). Grants dynamodb:ExportTableToPointInTime, DescribeContinuousBackups on the table, DescribeExport on its exports, ListExports (on *, it has no resource type), and s3:PutObject, AbortMultipartUpload, GetObject under the prefix only; null disables CHANGED_FROM. The table needs point-in-time recovery."
  type        = string
  default     = null

  validation {
    condition     = var.export_s3_prefix == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+/$", var.export_s3_prefix))
    error_message = "export_s3_prefix must look like s3://bucket/prefix/ (a prefix ending in /, not the whole bucket)."
  }
}

variable "export_kms_key_arn" {
  description = "KMS key of an SSE-KMS export bucket: grants kms:GenerateDataKey and kms:Decrypt on it (through S3 and DynamoDB only); null for SSE-S3 buckets."
  type        = string
  default     = null

  validation {
    condition     = var.export_kms_key_arn == null ? true : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.export_kms_key_arn))
    error_message = "export_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

variable "failure_queue_arns" {
  description = "ARNs of the SQS on-failure queues of the table's Lambda consumers that FAILED_BATCHES_FROM may name: grants sqs:ReceiveMessage, ChangeMessageVisibility, DeleteMessage, GetQueueAttributes on them, and the stream read (dynamodb:DescribeStream, GetShardIterator, GetRecords on the table's stream/*)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.failure_queue_arns : can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", arn))])
    error_message = "failure_queue_arns must be SQS queue ARNs (arn:aws:sqs:<region>:<account>:<queue>)."
  }
}

variable "failed_batches_s3_prefix" {
  description = "s3://bucket/prefix/ holding Lambda's S3 on-failure records, or JSON Lines dumps of a queue, that FAILED_BATCHES_FROM may name: grants s3:ListBucket (this prefix only) and s3:GetObject under it, and the stream read; null: no s3:// FAILED_BATCHES_FROM."
  type        = string
  default     = null

  validation {
    condition     = var.failed_batches_s3_prefix == null ? true : can(regex("^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+/$", var.failed_batches_s3_prefix))
    error_message = "failed_batches_s3_prefix must look like s3://bucket/prefix/ (a prefix ending in /, not the whole bucket)."
  }
}

# ---- Capacity ----
variable "fargate_spot" {
  description = "Run tasks on FARGATE_SPOT by default (the launcher's --spot for one run); a task RunTask cannot place for lack of Spot capacity is started on FARGATE by the launcher and the runbook (ECS does not fall back by itself). A reclaimed task gets SIGTERM two minutes ahead, stops cleanly, and resumes with the same RUN_ID."
  type        = bool
  default     = false
  nullable    = false
}

# ---- Metrics and alarms ----
variable "metrics_namespace" {
  description = "CloudWatch namespace of the metrics the worker embeds in its log lines (EMF: TouchedItems, FailedItems, ThrottledStatements, ConsumedWCU, ItemsPerSecond, and WcuCap on runs with a cap; dimensions table and environment), which the run dashboard and the failed-items alarm read. Empty: none."
  type        = string
  default     = "ddb-stream-rerun"
  nullable    = false
}

variable "alarm_topic_arn" {
  description = "SNS topic for alarms: a task of this family stopping with a non-zero exit code or failing to start (EventBridge), and failed items (metric alarm). null: no alarms. The topic's policy must let events.amazonaws.com and cloudwatch.amazonaws.com publish."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null ? true : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN."
  }
}

# ---- The stream's consumers and the run dashboard ----
variable "consumer_function_names" {
  description = "Names of the Lambda functions that consume the table's stream: the dashboard shows each one's IteratorAge (Maximum), Errors (Sum) and ConcurrentExecutions (Maximum) under the worker's own metrics. Function names, not ARNs (AWS/Lambda's FunctionName dimension). The task's consumer discovery and CONSUMER_FUNCTIONS need no entry here."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for f in var.consumer_function_names : can(regex("^[A-Za-z0-9_-]{1,64}$", f))])
    error_message = "consumer_function_names must be Lambda function names (1-64 of A-Z a-z 0-9 _ -), not ARNs or qualified names."
  }
}

variable "confirm_runs" {
  description = "Whether the launcher, on a terminal, shows the run's plan (selection, caps, consumers) and asks before it starts a task (--yes skips the question; without a terminal it never asks). Written to the run configuration as confirm_runs."
  type        = bool
  default     = true
  nullable    = false
}
