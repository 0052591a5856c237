#pragma once

#include <vector>

#include "provbridge/producers/ldap_source.hpp"

namespace provbridge::test_support {

// Where a source's events go in tests, standing in for Kafka: an acknowledged send is kept in
// `sent`; while `fail_sends` is above zero, each send is refused (and counts it down).
class FakeEventSink final : public producers::EventSink {
public:
    Result<bool> send(const std::vector<Event>& events) override {
        if (fail_sends > 0) {
            --fail_sends;
            return make_error("the broker is down (injected)", ErrorKind::Transient);
        }
        sent.insert(sent.end(), events.begin(), events.end());
        return true;
    }
    std::vector<Event> sent;
    int fail_sends = 0;
};

}  // namespace provbridge::test_support
