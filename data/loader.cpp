// data/loader.cpp — see loader.h.
//
// How the threads cooperate. Batch number `step` of the epoch is a pure function of (seed, epoch, step):
// assemble(step) reads the epoch's fixed order and seeds each sample's Rng from its dataset index. So any worker
// may build any step; the ring only decides *when*. Workers take steps in increasing order from
// next_to_assemble_, but never more than `prefetch` ahead of next_to_return_, and put each finished batch (or
// its exception) into slot step % prefetch. next() waits for the slot of next_to_return_, empties it and
// advances, which frees a slot for a waiting worker. One mutex and one condition variable guard it all; the
// expensive part, assemble(), runs unlocked.
#include "data/loader.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace tern {

DataLoader::DataLoader(const Dataset& dataset, LoaderOptions options) : dataset_(dataset), options_(options) {
    LoaderOptions& o = options_;
    if (o.end < 0) o.end = dataset_.size();
    TERN_CHECK(o.batch_size >= 1, "DataLoader: batch_size must be >= 1, got " << o.batch_size);
    TERN_CHECK(o.workers >= 0, "DataLoader: workers must be >= 0, got " << o.workers);
    TERN_CHECK(o.prefetch >= 1, "DataLoader: prefetch must be >= 1, got " << o.prefetch);
    TERN_CHECK(0 <= o.begin && o.begin < o.end && o.end <= dataset_.size(),
               "DataLoader: index range [" << o.begin << ", " << o.end << ") is empty or outside the dataset "
                                           << dataset_.describe() << " of " << dataset_.size() << " samples");
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::num_samples() const { return options_.end - options_.begin; }

int64_t DataLoader::batches_per_epoch() const {
    const int64_t n = num_samples(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::start_epoch(int64_t epoch) {
    TERN_CHECK(epoch >= 0, "DataLoader: epoch must be >= 0, got " << epoch);
    stop_workers();
    epoch_ = epoch;

    // This epoch's order: indices begin … end−1, shuffled by Fisher–Yates with Rng(mix_seed(seed, epoch)).
    order_.resize(size_t(num_samples()));
    std::iota(order_.begin(), order_.end(), options_.begin);
    if (options_.shuffle) {
        Rng rng(mix_seed(options_.seed, uint64_t(epoch)));
        for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[rng.below(uint32_t(i + 1))]);
    }

    next_to_assemble_ = next_to_return_ = 0;
    ready_.assign(size_t(options_.prefetch), Slot{});
    stopping_ = false;
    for (int w = 0; w < options_.workers; ++w) workers_.emplace_back(&DataLoader::worker_loop, this);
}

void DataLoader::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    ready_.clear();  // drops any prefetched batches (their memory goes back to the caching allocator)
}

void DataLoader::worker_loop() {
    const int64_t steps = batches_per_epoch();
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        // Wait until there is a step left whose slot is free (at most `prefetch` steps ahead of the consumer).
        cv_.wait(lock, [&] {
            return stopping_ || next_to_assemble_ >= steps || next_to_assemble_ < next_to_return_ + options_.prefetch;
        });
        if (stopping_ || next_to_assemble_ >= steps) return;
        const int64_t step = next_to_assemble_++;

        lock.unlock();
        Slot slot = assemble(step);
        lock.lock();

        ready_[size_t(step % options_.prefetch)] = std::move(slot);
        cv_.notify_all();
    }
}

std::optional<Batch> DataLoader::next() {
    TERN_CHECK(epoch_ >= 0, "DataLoader: call start_epoch(epoch) before next()");
    const int64_t step = next_to_return_;  // only this (the consumer's) thread writes next_to_return_
    if (step >= batches_per_epoch()) return std::nullopt;

    Slot slot;
    if (options_.workers == 0) {  // no threads: build the batch here
        slot = assemble(step);
        next_to_return_++;
    } else {
        std::unique_lock<std::mutex> lock(mutex_);
        Slot& mine = ready_[size_t(step % options_.prefetch)];
        cv_.wait(lock, [&] { return mine.filled(); });
        slot = std::move(mine);
        mine = Slot{};
        next_to_return_++;
        lock.unlock();
        cv_.notify_all();  // a slot is free: a waiting worker may start the step `prefetch` ahead
    }

    if (slot.error) {  // the epoch ends here: stop the other workers, then report
        stop_workers();
        next_to_return_ = batches_per_epoch();
        std::rethrow_exception(slot.error);
    }
    return std::move(slot.batch);
}

DataLoader::Slot DataLoader::assemble(int64_t step) const {
    try {
        const int64_t first = step * options_.batch_size;
        const int64_t count = std::min(options_.batch_size, num_samples() - first);
        const SampleShape s = dataset_.sample_shape();

        Batch batch;
        batch.step = step;
        batch.images = Tensor::empty({count, s.height, s.width, s.channels});
        batch.labels.resize(size_t(count));
        batch.indices.resize(size_t(count));
        for (int64_t k = 0; k < count; ++k) {
            const int64_t index = order_[size_t(first + k)];
            Rng rng(mix_seed(options_.seed, uint64_t(epoch_), uint64_t(index)));  // this sample's augmentation
            batch.indices[size_t(k)] = index;
            batch.labels[size_t(k)] = dataset_.get(index, batch.images.data() + k * s.numel(), rng);
        }
        return Slot{std::move(batch), nullptr};
    } catch (...) {
        return Slot{std::nullopt, std::current_exception()};
    }
}

}  // namespace tern
