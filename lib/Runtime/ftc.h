/*===- ftc.h - the C ABI of a compiled training step (step.so) -------------===*
 *
 * Every step.so that `ftc` emits exports these functions, for every model and
 * target. A program can link step.so or dlopen it and look the functions up.
 *
 *   ftc_state *s;
 *   if (ftc_create(42, &s) != FTC_OK) fprintf(stderr, "%s\n", ftc_last_error());
 *   const void *batch[] = {images, labels};    // in ftc_input_info order
 *   double loss;
 *   ftc_step(s, batch, &loss);                  // forward, backward, update
 *   ftc_save(s, "ckpt.safetensors");
 *   ftc_destroy(s);
 *
 * Every call that can fail returns a status; ftc_last_error() then says what
 * went wrong (per thread). A failed call leaves the state as it was. A
 * state belongs to the step.so that made it: passed to another library's
 * functions it is an FTC_ERROR_ARGUMENT (functions returning a pointer or a
 * count return null or 0 and set the last error), never a crash.
 *
 * A step.so compiled for an NVIDIA GPU (ftc --target=cuda) keeps the state
 * in GPU memory; it loads the driver (libcuda.so.1, or $FTC_LIBCUDA) when a
 * state is created, and ftc_create fails with FTC_ERROR_DEVICE where there
 * is no driver or GPU. Its inputs may be host or GPU pointers (GPU ones are
 * copied on the GPU, or read where they are with FTC_CUDA_GRAPHS=0, and
 * their range is not checked); a step returns once its loss is back on the
 * host. From its second call each entry point is replayed as a CUDA graph
 * (FTC_CUDA_GRAPHS=0: launch by launch); FTC_CUDA_PROFILE=FILE writes the
 * GPU time of every kernel and product when the state is destroyed.
 * FTC_CUDA_DEVICE picks the GPU. Pointers returned by ftc_param_data,
 * ftc_grad_data and ftc_output_data point at a host copy, current when
 * returned; what is written through ftc_param_data reaches the GPU before
 * the next step.
 *===----------------------------------------------------------------------===*/

#ifndef FTC_H
#define FTC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FTC_ABI_VERSION 1

#if defined(__GNUC__)
#define FTC_API __attribute__((visibility("default")))
#else
#define FTC_API
#endif

typedef enum ftc_status {
  FTC_OK = 0,
  FTC_ERROR_ARGUMENT = 1, /* a null pointer, an index out of range */
  FTC_ERROR_IO = 2,       /* a file could not be read or written */
  FTC_ERROR_FORMAT = 3,   /* a file is not a valid checkpoint */
  FTC_ERROR_MISMATCH = 4, /* a checkpoint does not fit this model */
  FTC_ERROR_MEMORY = 5,   /* out of memory */
  FTC_ERROR_UNSUPPORTED = 6, /* the step.so was compiled without this entry */
  FTC_ERROR_NUMERICS = 7,    /* an op made an inf or a NaN (a step compiled with
                                `ftc --check-numerics`; the state is unchanged) */
  FTC_ERROR_DEVICE = 8,      /* a step.so compiled for CUDA found no usable GPU (no
                                driver, no device, kernels it cannot load), or the
                                GPU failed a step */
  FTC_ERROR_COMM = 9         /* a communicator (ftc_set_comm) failed a collective */
} ftc_status;

typedef enum ftc_dtype {
  FTC_F32 = 0,
  FTC_F64 = 1,
  FTC_F16 = 2,
  FTC_BF16 = 3,
  FTC_I32 = 4,
  FTC_I64 = 5,
  FTC_I8 = 6, /* bytes: the workspace */
  FTC_U8 = 7  /* bytes: 4-bit codes of a parameter stored as NF4 (QLoRA) */
} ftc_dtype;

/* A parameter or a batch input: a dense row-major tensor. */
typedef struct ftc_tensor_info {
  const char *name;     /* state_dict key of a parameter, or the input's name */
  ftc_dtype dtype;
  int32_t rank;
  const int64_t *shape; /* rank entries */
  int64_t numel;        /* product of the shape */
  int32_t trainable;    /* parameters: 1 unless frozen; inputs: 0 */
  int64_t high;         /* integer inputs used as class labels or indices:
                           valid values are [0, high); 0 when unknown */
} ftc_tensor_info;

typedef struct ftc_state ftc_state;

FTC_API int32_t ftc_abi_version(void);
/* The model's description as JSON: buffers, entry points, optimizer. */
FTC_API const char *ftc_model_description(void);

FTC_API int32_t ftc_num_params(void);
FTC_API int32_t ftc_num_inputs(void);
/* Outputs: further results of the loss function (the logits, say), written
 * by ftc_eval. */
FTC_API int32_t ftc_num_outputs(void);
FTC_API ftc_status ftc_param_info(int32_t index, ftc_tensor_info *info);
FTC_API ftc_status ftc_input_info(int32_t index, ftc_tensor_info *info);
FTC_API ftc_status ftc_output_info(int32_t index, ftc_tensor_info *info);
/* Bytes of one element of `dtype`. */
FTC_API int32_t ftc_dtype_size(ftc_dtype dtype);

/* A new state: every parameter drawn from its initializer with `seed` (the
 * same seed gives the same bits on every machine), optimizer state zero,
 * step counter 0. */
FTC_API ftc_status ftc_create(uint64_t seed, ftc_state **state);
FTC_API void ftc_destroy(ftc_state *state);

/* One training step on one batch: `inputs[i]` points at input i's data.
 * `loss` receives the loss before the update (may be null). Every integer
 * input with a range (`high` in its ftc_tensor_info: class labels, token
 * ids) is checked before anything runs: a value outside [0, high) fails
 * with FTC_ERROR_ARGUMENT, the error naming the input, the element, its
 * example in the batch and the value, and the state unchanged. The same
 * holds for ftc_eval and ftc_grad. */
FTC_API ftc_status ftc_step(ftc_state *state, const void *const *inputs, double *loss);
/* The loss on one batch, and the outputs (read them with ftc_output_data),
 * without an update. */
FTC_API ftc_status ftc_eval(ftc_state *state, const void *const *inputs, double *loss);
/* The loss and the gradients (read them with ftc_grad_data), no update. */
FTC_API ftc_status ftc_grad(ftc_state *state, const void *const *inputs, double *loss);

/* Gradient accumulation, and the split between the gradients and the
 * update that data parallelism uses:
 *   ftc_zero_grad(s);
 *   for (k = 0; k < K; ++k) ftc_accumulate_grad(s, batch[k], &loss[k]);
 *   ftc_apply(s, 1.0 / K);    // the update from the mean gradient
 * equals one ftc_step on the K batches together (their mean loss) under
 * the numerical contract. ftc_zero_grad sets the gradient buffers
 * (ftc_grad_data) to 0; ftc_accumulate_grad adds one batch's gradients to
 * them and returns its loss (dropout masks differ between the batches of
 * one update; the first batch's are ftc_step's); ftc_apply multiplies them
 * by `grad_scale`, clips them (`ftc --clip-grad-norm`), takes one optimizer
 * step with the current learning rate and advances the step counter. With
 * fp16 loss scaling each batch's backward is scaled and its gradients
 * unscaled into the sums; ftc_apply skips the update if a sum holds an inf
 * or NaN, as ftc_step does. Steps compiled before these entries return
 * FTC_ERROR_UNSUPPORTED. */
FTC_API ftc_status ftc_zero_grad(ftc_state *state);
FTC_API ftc_status ftc_accumulate_grad(ftc_state *state, const void *const *inputs,
                                       double *loss);
FTC_API ftc_status ftc_apply(ftc_state *state, double grad_scale);

/* Data parallelism. Every rank (process or GPU) runs the same step.so on
 * its own batches; a communicator attached to each rank's state makes the
 * step average the gradients over the ranks before the update, so every
 * rank takes the same update and the parameters stay bit-identical. The
 * step.so links no communication library: the caller implements these
 * functions over its engine (ftc-train --mpi: MPI_Allreduce). Each
 * function returns 0 on success; anything else is a failure that error()
 * describes.
 *
 * all_reduce starts summing `count` elements of `dtype` at `data` (in
 * place) over all ranks and sets *request; wait(request) returns once the
 * sum is in `data`. Every rank calls them with the same counts, dtypes and
 * order, and every rank must receive the same bits. all_reduce may return
 * at once and sum in the background: the step does not touch `data` until
 * the wait. all_gather (in place; may be null unless a future sharded
 * optimizer asks for it) gives every rank the `bytes[r]` bytes that rank r
 * holds at `data` + bytes[0] + ... + bytes[r-1].
 *
 * `memory` says where `data` is. FTC_COMM_HOST: host memory, as above (the
 * only kind a CPU step.so takes). FTC_COMM_DEVICE: the GPU memory of a
 * CUDA step.so's state, and the collectives are stream-ordered (NCCL's
 * model): all_reduce enqueues the sum on ftc_device_stream(state) and may
 * set *request to null; wait(request) returns once the sum is enqueued, and
 * the step orders what reads `data` after it on that stream. Version 1
 * tables have no `memory` and are FTC_COMM_HOST. */
#define FTC_COMM_VERSION 2
#define FTC_COMM_HOST 0
#define FTC_COMM_DEVICE 1
typedef struct ftc_comm {
  int32_t version; /* FTC_COMM_VERSION (1 is still taken: no `memory`) */
  int32_t rank;    /* 0 <= rank < size */
  int32_t size;    /* the number of ranks */
  void *context;   /* passed back to each function */
  int32_t (*all_reduce)(void *context, void *data, int64_t count, ftc_dtype dtype,
                        void **request);
  int32_t (*wait)(void *context, void *request);
  int32_t (*all_gather)(void *context, void *data, const int64_t *bytes);
  const char *(*error)(void *context);
  int32_t memory;  /* version 2: FTC_COMM_HOST or FTC_COMM_DEVICE */
} ftc_comm;

/* Attaches `comm` (copied; null detaches) to `state`. With one attached:
 *  - ftc_step runs the gradients of this rank's batch, sums each bucket of
 *    gradients over the ranks as soon as the backward has finished it
 *    (buckets of about `bucket_bytes`, 0 for the default of 1 MiB, in the
 *    order the compiled backward finishes the gradients: the all-reduces
 *    overlap the rest of the backward), then updates from the mean over the
 *    ranks; it returns the loss averaged over the ranks. Dropout masks
 *    differ between ranks: rank r's are those of the r-th batch of an
 *    update of ftc_accumulate_grad. One step on each of N ranks equals
 *    (under the numerical contract) ftc_zero_grad, ftc_accumulate_grad on
 *    the N batches in rank order and ftc_apply(1/N) on one rank.
 *  - ftc_accumulate_grad sums locally (its micro-batch k on rank r draws
 *    the masks of batch k * size + r); ftc_apply(s) sums the gradients
 *    over the ranks, then updates with the factor s / size.
 *  - ftc_grad and ftc_eval are this rank's alone.
 * With a CUDA step.so the communicator must be FTC_COMM_DEVICE (NCCL): the
 * gradients are summed in buckets on the step's stream after the backward
 * (no overlap yet), the loss through 8 bytes of GPU memory; ZeRO
 * (ftc_shard_optimizer) is CPU-only for now.
 * A non-finite gradient on any rank is non-finite in the sum: with fp16
 * loss scaling every rank skips the same steps. A failed collective fails
 * the call with FTC_ERROR_COMM (parameters and optimizer state unchanged,
 * the gradients undefined). Needs a step.so with ftc_accumulate_grad and
 * ftc_apply (FTC_ERROR_UNSUPPORTED otherwise). */
FTC_API ftc_status ftc_set_comm(ftc_state *state, const ftc_comm *comm,
                                int64_t bucket_bytes);
/* ZeRO stage 1, after ftc_set_comm (needs the communicator's all_gather):
 * each rank updates a run of the trained parameters, about 1/size of the
 * optimizer state's bytes, and keeps the optimizer state of those only
 * (the rest of its pages are given back to the kernel); after each update
 * the parameters are all-gathered, so that every rank holds all of them,
 * bit-identical to an unsharded run. With it, ftc_save is collective
 * (every rank calls it: the optimizer state is gathered, rank 0 writes the
 * checkpoint whole, which loads at any number of ranks or into a plain
 * state); ftc_load and ftc_load_partial keep this rank's part of what they
 * load; ftc_set_comm(state, NULL, 0) gathers the state back (collective).
 * The assignment of parameters to ranks is fixed by the layout and the
 * number of ranks. */
FTC_API ftc_status ftc_shard_optimizer(ftc_state *state);
/* The stream (a CUstream) the entry points of a CUDA step.so's `state` run
 * on, for a communicator's stream-ordered collectives; null for a CPU
 * step.so or a bad state. */
FTC_API void *ftc_device_stream(const ftc_state *state);
/* Bytes of optimizer state `state` holds: ftc_buffer_bytes("slot"), or
 * with a sharded optimizer this rank's part. */
FTC_API int64_t ftc_optimizer_bytes(const ftc_state *state);

/* Parameter i's data (read and write), or null for a bad index. */
FTC_API void *ftc_param_data(ftc_state *state, int32_t index);
/* Parameter i's gradient from the last ftc_grad (or the running sum of
 * ftc_accumulate_grad), or null if it has none. */
FTC_API const void *ftc_grad_data(ftc_state *state, int32_t index);
/* Output i from the last ftc_eval, or null for a bad index. */
FTC_API const void *ftc_output_data(ftc_state *state, int32_t index);
/* Optimizer state and step counter back to zero (fine-tuning from loaded
 * parameters with a fresh optimizer). */
FTC_API void ftc_reset_optimizer(ftc_state *state);
/* Updates taken so far: ftc_step calls less those skipped. */
FTC_API int64_t ftc_step_count(const ftc_state *state);
/* Dynamic loss scaling (fp16, GradScaler's semantics; `ftc --loss-scale`):
 * the scale the next step multiplies the loss by, or 0 for a step.so
 * without loss scaling. A step whose gradients hold an inf or NaN changes
 * no parameter, no optimizer state and not the step counter; it halves the
 * scale (backoff), and ftc_step still returns FTC_OK with its loss. */
FTC_API double ftc_loss_scale(const ftc_state *state);
/* The learning rate the next ftc_step uses: the optimizer's lr as compiled
 * (`ftc --lr`) in a new state, until ftc_set_lr changes it. A schedule sets
 * it before each step, from the number of updates taken (ftc_step_count):
 * no recompilation, and no other scalar changes (AdamW's bias correction
 * keeps counting steps). Parameter groups' multipliers (`ftc --lr-scale`)
 * apply on top. It is not saved in checkpoints nor reset by
 * ftc_reset_optimizer: a resumed run sets it again from the step count.
 * ftc_set_lr takes a finite lr >= 0; FTC_ERROR_UNSUPPORTED for a step.so
 * from before run-time learning rates. ftc_get_lr returns -1 there. */
FTC_API ftc_status ftc_set_lr(ftc_state *state, double lr);
FTC_API double ftc_get_lr(const ftc_state *state);
/* The gradients' global 2-norm at the last ftc_step, before clipping
 * (torch.nn.utils.clip_grad_norm_'s return value): for a step.so compiled
 * with `ftc --clip-grad-norm=MAX` (MAX may be inf: measured, not clipped);
 * 0 before the first step, -1 for a step.so compiled without clipping.
 * With fp16 loss scaling it is the norm of the unscaled gradients (inf or
 * NaN on a skipped step). */
FTC_API double ftc_grad_norm(const ftc_state *state);
/* Steps skipped since ftc_create (or the last load or reset). */
FTC_API int64_t ftc_skipped_steps(const ftc_state *state);
/* Training mode (the default, 1) or not (0): without it dropout is the
 * identity in every entry point, as after PyTorch's model.eval(). In training
 * mode every entry draws the dropout masks of the next step from the seed
 * and the step number, so ftc_grad shows the gradient ftc_step will use. */
FTC_API void ftc_set_training(ftc_state *state, int32_t training);
/* Bytes of the buffers of one kind that every state holds: "param",
 * "grad", "slot" (optimizer state), "state" (the step counter, the loss
 * scale), "setting" (the learning rate, apply's gradient factor), "report"
 * (the gradients' norm), "output", "workspace" (the step's temporaries, at offsets fixed
 * by the compiler: `ftc --report` prints the same figure), or "all": every
 * buffer a state allocates (all but the batch inputs, which the caller
 * owns). 0 for any other kind. */
FTC_API int64_t ftc_buffer_bytes(const char *kind);
/* Threads the step's matrix products run on (OpenMP), for calls from this
 * thread; n >= 1. Without it: $FTC_NUM_THREADS when ftc_create runs, else
 * OpenMP's default ($OMP_NUM_THREADS, else one per core). Results are
 * bit-identical for every n: no sum is split between threads. */
FTC_API ftc_status ftc_set_num_threads(int32_t n);

/* Parameters, optimizer state and step counter as safetensors, written to a
 * temporary file and renamed over `path`: parameters under their names,
 * optimizer state as `optim.<param>.<state>`, the step counter as
 * `optim.step`, the dynamic loss scaling's state (fp16) as
 * `grad_scaler.scale` and `grad_scaler.growth_tracker`, the dropout seed
 * as `rng.seed`. A checkpoint loads into the same model compiled for any
 * precision: state the step lacks is skipped (see ftc_last_report), state
 * the file lacks starts afresh. */
FTC_API ftc_status ftc_save(const ftc_state *state, const char *path);
/* Loads a checkpoint written by ftc_save, or a PyTorch state_dict saved as
 * safetensors (parameters only: optimizer state and step counter become
 * zero). Every parameter must be present with its dtype and shape, except
 * the LoRA adapters of a step compiled with them (`M.lora_A.weight`,
 * `M.lora_B.weight`, `M.lora_magnitude_vector` of each adapted module M):
 * a pretrained model's state_dict lacks them, and they keep their values
 * (ftc_create's). Optimizer state that the file holds for a weight this
 * step does not train is skipped; any other tensor the model lacks is an
 * error. ftc_last_report says what was loaded. */
FTC_API ftc_status ftc_load(ftc_state *state, const char *path);
/* Loads every tensor of `path` whose name, dtype and shape are those of a
 * parameter; every other parameter keeps its value (a pretrained backbone
 * under a new head). Optimizer state and step counter become zero: the
 * file's optimizer state is not read. Fails (FTC_ERROR_MISMATCH) when no
 * tensor fits at all. ftc_last_report lists what was skipped and why. */
FTC_API ftc_status ftc_load_partial(ftc_state *state, const char *path);

/* LoRA adapters in the files of Hugging Face PEFT (save_pretrained), for a
 * step compiled with adapters (`ftc --lora-targets=...`; others return
 * FTC_ERROR_UNSUPPORTED):
 *   DIR/adapter_model.safetensors  `base_model.model.M.lora_A.weight` [r, in],
 *       `base_model.model.M.lora_B.weight` [out, r] (and DoRA's
 *       `base_model.model.M.lora_magnitude_vector` [out]) for each adapted
 *       module M; every parameter of a module PEFT would save whole
 *       (modules_to_save: a trained parameter that is no adapter), as
 *       `base_model.model.<name>`;
 *   DIR/adapter_config.json  LoraConfig: peft_type "LORA", r, lora_alpha,
 *       lora_dropout, use_rslora, use_dora, target_modules (the adapted
 *       modules by name), modules_to_save, bias "none", inference_mode
 *       true, the other fields at PEFT's defaults.
 * Saving creates DIR if needed and writes both files to temporaries first,
 * renaming them only once both are written: a failure leaves DIR as it
 * was. Loading checks that r, lora_alpha, use_rslora and use_dora are the
 * step's (and that no per-module rank_pattern/alpha_pattern, fan_in_fan_out
 * or bias other than "none" is asked for), that every adapter of the step
 * is in the file with its shape and that every tensor of the file is an
 * adapter or a parameter of a module in modules_to_save; 16- and 64-bit
 * float tensors are converted. The optimizer state of the loaded
 * parameters becomes zero. */
FTC_API ftc_status ftc_save_adapters(const ftc_state *state, const char *dir);
FTC_API ftc_status ftc_load_adapters(ftc_state *state, const char *dir);
/* The base model with the adapters folded in, as a state_dict in
 * safetensors: the parameters of the model without the adapters, each
 * adapted `M.weight` replaced by W + scaling * B A (DoRA: by
 * m * (W + scaling * B A) / ||W + scaling * B A|| per output row),
 * computed in double and stored as f32. A step compiled without LoRA
 * loads it with ftc_load, PyTorch's base model with load_state_dict. */
FTC_API ftc_status ftc_save_merged(const ftc_state *state, const char *path);
/* Checks, before any work, that a later save could succeed: `kind` is
 * "checkpoint" (ftc_save: the directory of `path` takes new files),
 * "adapters" (ftc_save_adapters: the step has adapters, every parameter it
 * trains fits PEFT's format, DIR = `path` exists or is created here and
 * takes new files) or "merged" (ftc_save_merged). */
FTC_API ftc_status ftc_check_save(const char *kind, const char *path);
/* What the last successful ftc_load, ftc_load_partial, ftc_load_adapters,
 * ftc_save_adapters or ftc_save_merged on `state` did, as one JSON object
 * ("" before any; valid until the next of those calls or ftc_destroy):
 *   "action": "load" | "load_partial" | "load_adapters" | "save_adapters"
 *             | "save_merged",   "path": the file or directory;
 * loads:  "loaded": the parameters set from the file, "kept": those that
 *         kept their values, "skipped": [{"name", "reason", "detail"}] for
 *         the file's tensors left alone (reason "unknown": not part of the
 *         model, "mismatch": another dtype or shape, "state": optimizer
 *         state or seed not taken), "optimizer": optimizer tensors loaded,
 *         "step": the step counter after; load also "missing_optimizer":
 *         the optimizer state and step counter (`optim.step`) the file
 *         lacks, which start afresh; load_adapters also "converted":
 *         [{"name", "from"}] for tensors stored in another float dtype;
 * save_adapters: "files", "written" (the keys), "modules_to_save";
 * save_merged: "written" (the parameter names), "merged": [{"module",
 *         "weight", "max_abs_change", "max_abs_weight"}] per adapted
 *         module (max |W' - W| and max |W|), "max_abs_change". */
FTC_API const char *ftc_last_report(const ftc_state *state);

/* What the last failed call on this thread went wrong with. */
FTC_API const char *ftc_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* FTC_H */
