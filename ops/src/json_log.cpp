#include "provbridge/ops/json_log.hpp"

#include <spdlog/details/log_msg.h>

#include <nlohmann/json.hpp>

#include "provbridge/core/log_context.hpp"
#include "provbridge/ops/text_output.hpp"

namespace provbridge::ops {

void JsonLineFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    const auto level = spdlog::level::to_string_view(msg.level);
    nlohmann::json line = {{"time", time_text(ms)},
                           {"level", std::string(level.data(), level.size())},
                           {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    const auto& context = current_log_context();
    if (!context.app.empty()) line["app"] = context.app;
    if (!context.event_id.empty()) line["event_id"] = context.event_id;
    if (!context.object.empty()) line["object"] = context.object;
    if (!context.record.empty()) line["record"] = context.record;
    const auto text = dump_json(line);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLineFormatter::clone() const { return std::make_unique<JsonLineFormatter>(); }

}  // namespace provbridge::ops
