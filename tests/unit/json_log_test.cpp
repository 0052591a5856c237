// The JSON-lines log format: every line parses, and lines about an event carry its identity.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include "provbridge/core/log_context.hpp"
#include "provbridge/ops/json_log.hpp"

namespace provbridge {
namespace {

using nlohmann::json;

class JsonLog : public ::testing::Test {
protected:
    JsonLog() {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        log_ = std::make_shared<spdlog::logger>("test", sink);
        log_->set_formatter(std::make_unique<ops::JsonLineFormatter>());
    }
    std::vector<json> lines() {
        std::vector<json> docs;
        std::istringstream in(out_.str());
        std::string line;
        while (std::getline(in, line)) {
            auto doc = json::parse(line, nullptr, false);
            EXPECT_FALSE(doc.is_discarded()) << line;
            docs.push_back(doc);
        }
        return docs;
    }
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> log_;
};

TEST_F(JsonLog, ALineOutsideAnEventHasOnlyTimeLevelAndMessage) {
    log_->warn("kafka: a broker answers again at {}", "127.0.0.1:9092");
    const auto docs = lines();
    ASSERT_EQ(docs.size(), 1u);
    EXPECT_EQ(docs[0]["level"], "warning");
    EXPECT_EQ(docs[0]["msg"], "kafka: a broker answers again at 127.0.0.1:9092");
    EXPECT_TRUE(docs[0]["time"].get<std::string>().ends_with("Z"));
    EXPECT_FALSE(docs[0].contains("app"));
    EXPECT_FALSE(docs[0].contains("event_id"));
}

TEST_F(JsonLog, LinesAboutAnEventCarryItsAppEventIdAndObjectUntilTheScopeEnds) {
    {
        LogContextScope scope(LogContext{{}, {}, {}, "provisioning.events[2]@41"});
        log_->info("read");
        update_log_context("leapsome", "e-1", "user/u-7");
        log_->warn("dead-lettered: \"quoted\"\nnew line \xff");
    }
    log_->info("after");
    const auto docs = lines();
    ASSERT_EQ(docs.size(), 3u);
    EXPECT_EQ(docs[0]["record"], "provisioning.events[2]@41");
    EXPECT_FALSE(docs[0].contains("event_id"));
    EXPECT_EQ(docs[1]["app"], "leapsome");
    EXPECT_EQ(docs[1]["event_id"], "e-1");
    EXPECT_EQ(docs[1]["object"], "user/u-7");
    EXPECT_EQ(docs[1]["record"], "provisioning.events[2]@41");
    EXPECT_NE(docs[1]["msg"].get<std::string>().find("\"quoted\"\nnew line"), std::string::npos);
    EXPECT_FALSE(docs[2].contains("app")) << "the context outlived its scope";
    EXPECT_FALSE(docs[2].contains("record"));
}

TEST_F(JsonLog, ScopesNestAndRestoreTheOuterOne) {
    LogContextScope outer(LogContext{"a", "e-1", "user/1", ""});
    {
        LogContextScope inner(LogContext{"b", "e-2", "group/2", ""});
        log_->info("inner");
    }
    log_->info("outer");
    const auto docs = lines();
    ASSERT_EQ(docs.size(), 2u);
    EXPECT_EQ(docs[0]["event_id"], "e-2");
    EXPECT_EQ(docs[1]["event_id"], "e-1");
    EXPECT_EQ(docs[1]["app"], "a");
}

}  // namespace
}  // namespace provbridge
