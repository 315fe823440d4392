// The `bedrock` provider: Claude on Amazon Bedrock through InvokeModel and
// InvokeModelWithResponseStream (POST /model/{modelId}/invoke[-with-response-stream]), the body
// in Anthropic's shape (anthropic_version "bedrock-2023-05-31", no model field), every attempt
// SigV4-signed anew with the credentials the environment holds at that moment
// (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), streams decoded from the
// application/vnd.amazon.eventstream framing (CRC-checked) into the same Anthropic events as the
// anthropic provider (anthropic_events.h). Built on HttpProvider. Thread-safe like every
// Provider.
//
// Region pinning: customer data must not leave the deployment's region. config.region is
// required; the endpoint is https://bedrock-runtime.{region}.amazonaws.com unless base_url
// overrides it, and an override that is not a Bedrock endpoint of that region (or loopback, for
// tests) is refused at creation.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "core/llm_config.h"
#include "llm/provider.h"
#include "llm/provider_deps.h"

namespace mangaassist::llm {

// InvalidArgument for a missing or malformed region or base URL; PermissionDenied for an
// endpoint in another region. Credentials are read per call: missing ones fail the call with
// FailedPrecondition, not the creation.
absl::StatusOr<std::unique_ptr<Provider>> NewBedrockProvider(const core::ProviderConfig& config,
                                                             const ProviderDeps& deps);

}  // namespace mangaassist::llm
