terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40" # the major version is pinned here, in the root; the module asks only >= 5.40
    }
  }

  # State in S3 with S3-native locking (use_lockfile, Terraform >= 1.10). Bucket and key per environment;
  # pass the bucket at init: terraform init -backend-config="bucket=<state bucket>".
  backend "s3" {
    key          = "ddb-stream-rerun/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "managed-by" = "terraform"
      "repo"       = "ddb-stream-rerun"
    }
  }
}
