#include "provbridge/core/redact.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace provbridge {
namespace {

std::string percent_encoded(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' || u == '_' ||
            u == '.' || u == '~') {
            out += c;
        } else {
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        }
    }
    return out;
}

// %2F and %2f are the same escape; servers differ in which they write.
std::string ascii_lower_hex(std::string text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') continue;
        for (std::size_t j = i + 1; j <= i + 2 && j < text.size(); ++j) {
            if (text[j] >= 'A' && text[j] <= 'F') text[j] = static_cast<char>(text[j] - 'A' + 'a');
        }
    }
    return text;
}

void replace_all(std::string& text, std::string_view needle) {
    // Continue after the mask: the mask may itself contain the needle (a secret such as "d").
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + Redactor::kMask.size())) {
        text.replace(pos, needle.size(), Redactor::kMask);
    }
}

}  // namespace

Redactor::Redactor(std::vector<std::string> secrets) {
    for (auto& s : secrets) add(std::move(s));
}

void Redactor::add(std::string secret) {
    if (secret.empty()) return;
    std::vector<std::string> forms{secret};
    // nlohmann escapes what JSON requires; a server quoting the header inside a JSON detail does too.
    std::string json = nlohmann::json(secret).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    json = json.substr(1, json.size() - 2);
    forms.push_back(json);
    // JSON may also escape '/', and many servers do.
    std::string slashes;
    for (const char c : json) slashes += c == '/' ? std::string("\\/") : std::string(1, c);
    forms.push_back(std::move(slashes));
    forms.push_back(percent_encoded(secret));
    forms.push_back(ascii_lower_hex(percent_encoded(secret)));
    for (auto& form : forms) {
        if (!form.empty() && std::find(needles_.begin(), needles_.end(), form) == needles_.end()) {
            needles_.push_back(std::move(form));
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    std::stable_sort(needles_.begin(), needles_.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redactor::redact(std::string text) const {
    for (const auto& needle : needles_) replace_all(text, needle);
    return text;
}

}  // namespace provbridge
