# A Redis cache unit: the redis-cache module with the values its stack gives it.

include "root" {
  path = find_in_parent_folders("root.hcl")
}

terraform {
  # A local module path, found from root.hcl wherever Terragrunt generates the unit
  # (the stack's .terragrunt-stack/<path>). The // keeps modules/ as the copied tree.
  source = "${dirname(find_in_parent_folders("root.hcl"))}/modules//redis-cache"
}

inputs = values
