terraform {
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40" # a minimum only: the root module (envs/*) pins the major version
    }
  }
}
