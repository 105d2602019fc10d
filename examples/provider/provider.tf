terraform {
  required_version = ">= 1.11"
  required_providers {
    redis = {
      source = "redis-k8s/redis"
    }
  }
}

# Every setting is optional: without any, the provider uses KUBECONFIG (or
# ~/.kube/config) and its current context, and reaches Redis pods through the
# API server's port-forward.
provider "redis" {
  kubernetes = {
    config_path    = "~/.kube/config"
    config_context = "dev"
  }

  # "port-forward" (default) works from anywhere the API server is reachable;
  # "direct" connects to pod addresses, for runners inside the cluster.
  redis_access = "port-forward"

  # Field manager of the provider's server-side applies.
  field_manager = "terraform-provider-redis"
}

# Alternatively, an explicit API server and bearer token (e.g. a CI service account):
#
# provider "redis" {
#   kubernetes = {
#     host                   = "https://k8s.example.com:6443"
#     token                  = var.kubernetes_token
#     cluster_ca_certificate = file("${path.module}/ca.crt")
#   }
# }
#
# Or EKS-style exec credentials: the command runs without a terminal (it must not ask
# for input), within 30 seconds, and again shortly before its token expires. If it
# fails, only its name and exit status are reported, never its output or environment.
#
# provider "redis" {
#   kubernetes = {
#     host                   = data.aws_eks_cluster.this.endpoint
#     cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
#     exec = {
#       api_version = "client.authentication.k8s.io/v1beta1"
#       command     = "aws"
#       args        = ["eks", "get-token", "--cluster-name", "prod"]
#       env         = { AWS_PROFILE = "platform" }
#     }
#   }
# }
