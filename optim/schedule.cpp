// optim/schedule.cpp — the closed forms of schedule.h.
#include "optim/schedule.h"

#include <cmath>

#include "core/error.h"

namespace tern {

LrSchedule::LrSchedule(ScheduleConfig c) : config_(std::move(c)) {
    const std::string& k = config_.kind;
    TERN_CHECK(k == "cosine" || k == "sgdr" || k == "multistep" || k == "constant",
               "unknown lr schedule '" << k << "' (expected cosine, sgdr, multistep or constant)");
    TERN_CHECK(config_.base_lr >= 0 && config_.eta_min >= 0, "learning rates must be non-negative");
    TERN_CHECK(k != "cosine" || config_.total_epochs > 0, "cosine schedule needs total epochs > 0");
    TERN_CHECK(k != "sgdr" || (config_.t0 > 0 && config_.t_mult >= 1), "sgdr needs T_0 > 0 and T_mult ≥ 1");
    for (double len : config_.cycles) TERN_CHECK(len > 0, "sgdr cycle lengths must be positive");
}

static double cosine(double lr0, double eta_min, double t, double T) {
    return eta_min + (lr0 - eta_min) * (1.0 + std::cos(M_PI * t / T)) / 2.0;
}

double LrSchedule::lr_at(double t) const {
    const ScheduleConfig& c = config_;
    if (!c.per_step) t = std::floor(t + 1e-9);
    double lr = c.base_lr;
    if (c.kind == "cosine") {
        lr = cosine(c.base_lr, c.eta_min, std::min(t, c.total_epochs), c.total_epochs);
    } else if (c.kind == "sgdr") {
        // Find the cycle containing t: cycles last T_0, T_0·T_mult, T_0·T_mult², …
        double start = 0, len = c.cycles.empty() ? c.t0 : c.cycles[0];
        size_t i = 0;
        while (t >= start + len - 1e-12) {
            start += len;
            ++i;
            if (c.cycles.empty()) len *= c.t_mult;
            else if (i < c.cycles.size()) len = c.cycles[i];
        }
        lr = cosine(c.base_lr, c.eta_min, t - start, len);
    } else if (c.kind == "multistep") {
        for (double m : c.milestones)
            if (t >= m - 1e-12) lr *= c.gamma;
    }
    if (c.warmup_epochs > 0 && t < c.warmup_epochs) lr *= t / c.warmup_epochs;
    return lr;
}

}  // namespace tern
