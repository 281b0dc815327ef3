// data/loader.h — DataLoader: shuffles a Dataset each epoch and assembles batches on worker threads, ahead of
// the training step, so the step never waits for data.
//
//   LoaderOptions opt;  opt.batch_size = 128;  opt.seed = 0;  opt.workers = 2;
//   DataLoader loader(dataset, opt);
//   loader.start_epoch(epoch);
//   while (auto batch = loader.next()) { ... batch->images (B, H, W, C), batch->labels ... }
//
// Reproducibility: the epoch's order is a permutation drawn from Rng(mix_seed(seed, epoch)); sample i of
// epoch e is augmented with Rng(mix_seed(seed, e, i)). So the batches of an epoch depend only on (seed,
// epoch), not on thread timing, and a run resumed at epoch e sees exactly the data it would have seen.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"

namespace tern {

struct Batch {
    Tensor images;                // (B, H, W, C) float32
    std::vector<int32_t> labels;  // B labels
    std::vector<int64_t> indices; // dataset index of each sample
    int64_t step = 0;             // batch number within the epoch
};

struct LoaderOptions {
    int64_t batch_size = 128;
    bool shuffle = true;
    bool drop_last = false;  // drop a final partial batch
    uint64_t seed = 0;
    int workers = 2;         // threads assembling batches (0: next() assembles on the calling thread)
    int prefetch = 4;        // batches assembled ahead of the consumer
    int64_t begin = 0, end = -1;  // use only dataset indices [begin, end) (end = −1: to the end)
};

class DataLoader {
public:
    DataLoader(const Dataset& dataset, LoaderOptions options);  // checks the options against the dataset
    ~DataLoader();  // stops the workers (mid-epoch is fine)
    DataLoader(const DataLoader&) = delete;
    DataLoader& operator=(const DataLoader&) = delete;

    void start_epoch(int64_t epoch);    // stops any epoch in flight and begins this one
    // The next batch in order, or nullopt at the end of the epoch. An exception thrown while assembling a
    // batch (e.g. by Dataset::get) is rethrown by the next() that would have returned that batch; it ends the
    // epoch (later calls return nullopt until start_epoch).
    std::optional<Batch> next();
    int64_t batches_per_epoch() const;
    int64_t num_samples() const;        // end − begin

private:
    // A prefetch ring entry: empty, a finished batch, or the exception that prevented it.
    struct Slot {
        std::optional<Batch> batch;
        std::exception_ptr error;
        bool filled() const { return batch.has_value() || error != nullptr; }
    };

    void stop_workers();
    void worker_loop();
    Slot assemble(int64_t step) const;  // batch `step` of this epoch, or the exception that prevented it

    const Dataset& dataset_;
    LoaderOptions options_;
    int64_t epoch_ = -1;          // −1 until the first start_epoch()
    std::vector<int64_t> order_;  // dataset indices in this epoch's order (read-only while workers run)

    std::mutex mutex_;            // guards everything below except workers_
    std::condition_variable cv_;  // signalled when a slot is filled or freed, and on stop
    std::vector<std::thread> workers_;
    int64_t next_to_assemble_ = 0;  // next step a worker will take
    int64_t next_to_return_ = 0;    // next step next() hands out
    std::vector<Slot> ready_;       // ring of `prefetch` slots; step s lives in ready_[s % prefetch]
    bool stopping_ = false;
};

}  // namespace tern
