# Settings every unit of every environment shares. Units include this file with
#   include "root" { path = find_in_parent_folders("root.hcl") }
# (Terragrunt 1.x: a root terragrunt.hcl is deprecated; the root is root.hcl.)

locals {
  # Where state goes: "local" (default; files under .state/ next to this file, or
  # under $REDIS_STACK_STATE_DIR) or "s3" (see the README for the variables it reads).
  backend   = get_env("REDIS_STACK_BACKEND", "local")
  state_dir = get_env("REDIS_STACK_STATE_DIR", "${get_parent_terragrunt_dir()}/.state")
  # One state per unit, keyed by its path below this file, e.g.
  # live/dev/.terragrunt-stack/cache.
  state_key = "${path_relative_to_include()}/terraform.tfstate"
  # The kubeconfig context to deploy to; empty: the kubeconfig's current context.
  kube_context = get_env("REDIS_STACK_KUBE_CONTEXT", "")
}

remote_state {
  backend = local.backend
  generate = {
    path      = "backend.tf"
    if_exists = "overwrite_terragrunt"
  }
  config = {
    local = {
      path = "${local.state_dir}/${local.state_key}"
    }
    s3 = {
      bucket = get_env("REDIS_STACK_S3_BUCKET", "")
      key    = local.state_key
      region = get_env("AWS_REGION", "us-east-1")
      # S3-compatible stores other than AWS (MinIO, SeaweedFS, Ceph): their endpoint,
      # path-style addressing and none of AWS's account checks.
      endpoints                   = { s3 = get_env("AWS_ENDPOINT_URL", "https://s3.amazonaws.com") }
      use_path_style              = true
      skip_credentials_validation = true
      skip_requesting_account_id  = true
      skip_region_validation      = true
      # Lock with a lock file next to the state (Terraform and OpenTofu >= 1.10).
      use_lockfile = true
      # Terragrunt's bootstrap of the bucket: leave an existing bucket as it is.
      disable_bucket_update = true
    }
  }[local.backend]
}

# The provider block, written into every unit's working directory. With no settings
# the provider uses $KUBECONFIG (else ~/.kube/config) and its current context;
# REDIS_STACK_KUBE_CONTEXT picks another context.
generate "provider" {
  path      = "provider.tf"
  if_exists = "overwrite_terragrunt"
  contents  = <<-HCL
    provider "redis" {
      kubernetes = {
        config_context = ${local.kube_context == "" ? "null" : jsonencode(local.kube_context)}
      }
    }
  HCL
}
