#include "labelstudio/credentials.hpp"

#include "labelstudio/api_token.hpp"
#include "labelstudio/image_url.hpp"

namespace sam::ls {

LabelStudioCredentials environment_credentials(const LabelStudioCredentials& env) {
    return env.complete() ? env : LabelStudioCredentials{};
}

std::string environment_credentials_warning(const LabelStudioCredentials& env) {
    const char* use_setup = "the address and token Label Studio sends in /setup are used instead";
    if (!env.url.empty() && env.token.empty())
        return "LABEL_STUDIO_URL is set but LABEL_STUDIO_API_KEY is not: the two go together, so the URL is "
               "ignored and " + std::string(use_setup) + ". Set both to download uploaded and cloud images "
               "with your own token";
    if (env.url.empty() && !env.token.empty())
        return "LABEL_STUDIO_API_KEY is set but LABEL_STUDIO_URL is not: a token is only sent to the Label "
               "Studio it belongs to, so the key is not used and " + std::string(use_setup) +
               ". Set LABEL_STUDIO_URL too";
    return "";
}

bool setup_credentials_apply(const LabelStudioCredentials& env, const LabelStudioCredentials& setup) {
    return !env.complete() && setup.complete() && plausible_token(setup.url) &&
           is_same_origin(setup.url, setup.url) && plausible_token(trim_token(setup.token));
}

}  // namespace sam::ls
