#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "provbridge/core/scim.hpp"

namespace provbridge::test_support {

// A ScimClient that records every request and answers from a script: queued responses are
// used first, in order; once the queue is empty the handler (if any) answers. A send() with
// neither fails the current test and returns a transport failure.
class FakeScimClient final : public ScimClient {
public:
    using Handler = std::function<ScimResponse(const ScimRequest&)>;

    FakeScimClient() = default;
    explicit FakeScimClient(Handler handler) : handler_(std::move(handler)) {}

    void set_handler(Handler handler) {
        std::lock_guard lock(mutex_);
        handler_ = std::move(handler);
    }
    void push(ScimResponse response) {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(response));
    }

    ScimResponse send(const ScimRequest& request) override {
        Handler handler;
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(request);
            if (!queue_.empty()) {
                ScimResponse response = std::move(queue_.front());
                queue_.pop_front();
                return response;
            }
            handler = handler_;
        }
        if (handler) {
            return handler(request);
        }
        ADD_FAILURE() << "FakeScimClient: no scripted response for " << to_string(request.method)
                      << " " << request.path;
        return transport_failure(TransportStatus::Failed, "FakeScimClient: no scripted response");
    }

    std::vector<ScimRequest> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::size_t pending() const {
        std::lock_guard lock(mutex_);
        return queue_.size();
    }

    // An HTTP response with a raw body.
    static ScimResponse http(long status, std::string body = {}) {
        ScimResponse response;
        response.status = status;
        response.body = std::move(body);
        return response;
    }
    static ScimResponse json(long status, const nlohmann::json& body) {
        return http(status, body.dump());
    }
    // A SCIM ListResponse holding `resources`, with totalResults defaulting to their number.
    static ScimResponse list(const nlohmann::json& resources = nlohmann::json::array(),
                             long total_results = -1) {
        return json(200, {{"schemas", {"urn:ietf:params:scim:api:messages:2.0:ListResponse"}},
                          {"totalResults", total_results < 0
                                               ? static_cast<long>(resources.size())
                                               : total_results},
                          {"startIndex", 1},
                          {"itemsPerPage", resources.size()},
                          {"Resources", resources}});
    }
    // A SCIM error body (RFC 7644 §3.12).
    static ScimResponse error(long status, const std::string& detail,
                              const std::string& scim_type = {}) {
        nlohmann::json body = {{"schemas", {"urn:ietf:params:scim:api:messages:2.0:Error"}},
                               {"status", std::to_string(status)},
                               {"detail", detail}};
        if (!scim_type.empty()) {
            body["scimType"] = scim_type;
        }
        return json(status, body);
    }
    static ScimResponse transport_failure(TransportStatus status, std::string error) {
        ScimResponse response;
        response.transport = status;
        response.transport_error = std::move(error);
        return response;
    }

private:
    mutable std::mutex mutex_;
    std::deque<ScimResponse> queue_;
    Handler handler_;
    std::vector<ScimRequest> requests_;
};

}  // namespace provbridge::test_support
