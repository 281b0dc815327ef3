// optim/schedule.h — learning-rate schedules as closed-form functions of training progress.
//
// Progress t is measured in epochs and may be fractional (t = epoch + step / steps_per_epoch), so the same
// schedule can be applied per step or, with t rounded down, per epoch.
//   cosine:     lr(t) = η_min + (lr₀ − η_min)·(1 + cos(π t / T)) / 2                            (T = total epochs)
//   sgdr:       cosine annealing with warm restarts (Loshchilov & Hutter): the i-th cycle lasts T_i = T_0·T_mult^i
//               epochs (or the given cycle lengths); lr(t) = η_min + (lr₀ − η_min)·(1 + cos(π T_cur / T_i)) / 2,
//               T_cur = t − start of cycle i
//   multistep:  lr₀·γ^(number of milestones ≤ t)
//   constant:   lr₀
// A linear warm-up over the first W epochs multiplies any of them by t / W.
#pragma once
#include <string>
#include <vector>

namespace tern {

struct ScheduleConfig {
    std::string kind = "cosine";  // cosine | sgdr | multistep | constant
    double base_lr = 0.1;
    double eta_min = 0.0;
    double total_epochs = 1;        // cosine
    double t0 = 10, t_mult = 1;     // sgdr
    std::vector<double> cycles;     // sgdr with explicit cycle lengths (e.g. one per PTQ stage); the last repeats
    std::vector<double> milestones; // multistep
    double gamma = 0.1;             // multistep
    double warmup_epochs = 0;
    bool per_step = true;           // false: lr changes only at epoch boundaries
};

class LrSchedule {
public:
    explicit LrSchedule(ScheduleConfig config);  // throws tern::Error on an unknown kind or bad values
    double lr_at(double epochs) const;           // epochs of progress, fractional
    const ScheduleConfig& config() const { return config_; }

private:
    ScheduleConfig config_;
};

}  // namespace tern
