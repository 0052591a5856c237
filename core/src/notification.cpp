#include "provbridge/core/notification.hpp"

namespace provbridge {

std::string_view to_string(NotificationKind kind) {
    switch (kind) {
        case NotificationKind::QuarantineEntered: return "quarantine_entered";
        case NotificationKind::QuarantineLifted: return "quarantine_lifted";
        case NotificationKind::DeletesStaged: return "deletes_staged";
        case NotificationKind::DeletesReleased: return "deletes_released";
    }
    return "unknown";
}

}  // namespace provbridge
