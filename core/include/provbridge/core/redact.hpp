#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace provbridge {

// The one place secrets are removed from text. Every configured secret (SCIM tokens, the Redis
// password, Kafka SASL/SSL passwords) is registered once at start-up; anything taken from a
// response, an error or a configuration passes through redact() before it reaches a log line,
// Redis, a Kafka header or a page. A target that echoes the Authorization header it received,
// raw or JSON-escaped or percent-encoded, must not put the token anywhere.
class Redactor {
public:
    static constexpr std::string_view kMask = "[redacted]";

    Redactor() = default;
    explicit Redactor(std::vector<std::string> secrets);

    // Empty values are ignored; a secret registered twice is kept once.
    void add(std::string secret);
    [[nodiscard]] std::string redact(std::string text) const;
    [[nodiscard]] bool empty() const { return needles_.empty(); }

private:
    // Each secret and the forms it takes when a server quotes it back (JSON and URL escaping).
    std::vector<std::string> needles_;
};

}  // namespace provbridge
