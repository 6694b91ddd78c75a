#!/usr/bin/env bash
# Transfer learning with LoRA, end to end: pretrain a model on one task,
# fine-tune it on another with little data, and measure what it bought.
#
#   examples/transfer.sh [--out DIR] [mlp] [gpt]     (both stories by default)
#
# 1. MLP: examples/mlp-5.mlir pretrained on Fashion-MNIST's classes 0-4
#    (T-shirt/top, trouser, pullover, dress, coat); then the 10-class
#    examples/mlp.mlir with LoRA adapters on fc1 and fc2 and a new fc3 head
#    fine-tuned from it (--init --init-partial) on the first 1000 training
#    examples of all 10 classes. Against the same 1000 examples trained from
#    scratch, and a full fine-tune of the same backbone. Test accuracy on all
#    10 classes, on the pretraining classes 0-4 and on the new classes 5-9
#    (sandal, shirt, sneaker, bag, ankle boot), averaged over SEEDS.
# 2. Byte-level GPT: examples/gpt2-bytes.mlir pretrained on a fortune file,
#    then LoRA-fine-tuned on the GNU GPL, version 3 (every Debian has
#    /usr/share/common-licenses/GPL-3). The last 10% of each text is held out
#    (ftc-train --holdout 0.1): its loss is the measure. Against the
#    pretrained model as it is, the same steps from scratch and a full
#    fine-tune, with a sample before and after.
#
# Runs from the repository root or the build directory; ftc and ftc-train
# come from $FTC and $FTC_TRAIN, else PATH, else build/bin. Writes every
# model, checkpoint, adapter and log under DIR (default: a new temporary
# directory), and prints the tables of the README's "Fine-tuning with LoRA".
# The scale is set by the variables below (environment overrides them).
set -euo pipefail

SEEDS=${SEEDS:-"0 1 2"}                  # MLP fine-tunes, one per seed
MLP_PRETRAIN_EPOCHS=${MLP_PRETRAIN_EPOCHS:-2}
MLP_EXAMPLES=${MLP_EXAMPLES:-1000}       # fine-tuning data: the first N of the training split
MLP_EPOCHS=${MLP_EPOCHS:-20}             # over those N (7 steps of 128 an epoch for 1000)
MLP_LORA_LR=${MLP_LORA_LR:-0.003}        # LoRA's; the full trainings keep the model's 1e-3
GPT_PRETRAIN_TEXT=${GPT_PRETRAIN_TEXT:-/usr/share/games/fortunes/computers}
GPT_FINETUNE_TEXT=${GPT_FINETUNE_TEXT:-/usr/share/common-licenses/GPL-3}
GPT_PRETRAIN_STEPS=${GPT_PRETRAIN_STEPS:-1500}
GPT_STEPS=${GPT_STEPS:-200}
GPT_LORA_LR=${GPT_LORA_LR:-0.003}
HOLDOUT=${HOLDOUT:-0.1}
SAMPLE=${SAMPLE:-200}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }
die() { echo "transfer.sh: error: $*" >&2; exit 1; }

out="" stories=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    mlp|gpt) stories+=("$1"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (expected --out DIR, mlp, gpt)" ;;
  esac
done
[ ${#stories[@]} -gt 0 ] || stories=(mlp gpt)
wants() { [[ " ${stories[*]} " == *" $1 "* ]]; }

examples=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$examples")
find_tool() {
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  for dir in "$PWD/bin" "$PWD/build/bin" "$root/build/bin"; do
    if [ -x "$dir/$1" ]; then echo "$dir/$1"; return; fi
  done
  die "cannot find $1: put it on PATH, set \$$2, or build ftc into build/bin (./setup.sh)"
}
FTC=${FTC:-$(find_tool ftc FTC)}
FTC_TRAIN=${FTC_TRAIN:-$(find_tool ftc-train FTC_TRAIN)}
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")

if [ -z "$out" ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/ftc-transfer.XXXXXX")
fi
mkdir -p "$out/logs"
echo "ftc: $FTC"
echo "ftc-train: $FTC_TRAIN"
echo "writing to $out"
start=$SECONDS

# train NAME ARGS...: ftc-train ARGS, its output in logs/NAME.log.
train() {
  local name=$1
  shift
  "$FTC_TRAIN" "$@" "${threads[@]}" > "$out/logs/$name.log" 2>&1 ||
    { cat "$out/logs/$name.log" >&2; die "ftc-train $name failed (log: $out/logs/$name.log)"; }
}
# compile NAME ARGS...: ftc ARGS --report, the report in logs/NAME.report.
compile() {
  local name=$1
  shift
  "$FTC" "$@" --report > "$out/logs/$name.report" 2>&1 ||
    { cat "$out/logs/$name.report" >&2; die "ftc $name failed"; }
}
accuracy() { sed -n 's/^accuracy \([0-9.]*\)%.*/\1/p' "$out/logs/$1.log"; }
heldout() { sed -n 's/^held-out loss \([0-9.]*\).*/\1/p' "$out/logs/$1.log" | tail -1; }
# The trainable parameters and their share, from a LoRA step's --report.
trainable() { sed -n 's/^ *trainable parameters *\([0-9,]* ([0-9.]*%)\).*/\1/p' "$out/logs/$1.report"; }
mean() { awk '{ s = 0; for (i = 1; i <= NF; ++i) s += $i; printf "%.2f", s / NF }' <<< "$*"; }
range() { awk '{ lo = hi = $1; for (i = 2; i <= NF; ++i) { if ($i < lo) lo = $i; if ($i > hi) hi = $i }
                printf "%.2f-%.2f", lo, hi }' <<< "$*"; }
bytes() { stat -c %s "$1"; }
kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }

if wants mlp; then
  echo
  echo "== MLP: compile (mlp-5, mlp, mlp with LoRA)"
  compile mlp5 "$examples/mlp-5.mlir" -o "$out/mlp5.so"
  compile mlp "$examples/mlp.mlir" -o "$out/mlp.so"
  compile mlp-lora "$examples/mlp.mlir" -o "$out/mlp-lora.so" --lr="$MLP_LORA_LR" \
    --lora-targets='fc[12]' --lora-rank=8 --lora-trainable=fc3
  echo "== MLP: pretrain mlp-5 on classes 0-4, $MLP_PRETRAIN_EPOCHS epochs"
  train pretrain "$out/mlp5.so" --data fashion-mnist --classes 0-4 \
    --epochs "$MLP_PRETRAIN_EPOCHS" --save "$out/mlp5-pretrained.safetensors"
  pretrain_acc=$(accuracy pretrain)
  echo "   accuracy on classes 0-4: $pretrain_acc%"

  declare -A acc
  for seed in $SEEDS; do
    echo "== MLP: seed $seed: LoRA, scratch and full fine-tune on the first $MLP_EXAMPLES examples, $MLP_EPOCHS epochs"
    common=(--data fashion-mnist --examples "$MLP_EXAMPLES" --epochs "$MLP_EPOCHS" --seed "$seed")
    pretrained=(--init "$out/mlp5-pretrained.safetensors" --init-partial)
    train "lora-$seed" "$out/mlp-lora.so" "${common[@]}" "${pretrained[@]}" \
      --save-adapters "$out/mlp-adapters-$seed" --merge "$out/mlp-merged-$seed.safetensors"
    train "scratch-$seed" "$out/mlp.so" "${common[@]}" --save "$out/mlp-scratch-$seed.safetensors"
    train "full-$seed" "$out/mlp.so" "${common[@]}" "${pretrained[@]}" \
      --save "$out/mlp-full-$seed.safetensors"
    for method in lora scratch full; do
      acc[$method,all]+=" $(accuracy "$method-$seed")"
      # The trained 10-class model on the old and the new classes.
      model=$out/mlp-$method-$seed.safetensors
      [ "$method" = lora ] && model=$out/mlp-merged-$seed.safetensors
      for classes in 0-4 5-9; do
        train "$method-$seed-$classes" "$out/mlp.so" --data fashion-mnist --classes "$classes" \
          --steps 0 --init "$model"
        acc[$method,$classes]+=" $(accuracy "$method-$seed-$classes")"
      done
    done
    echo "   accuracy: LoRA $(accuracy "lora-$seed")%, scratch $(accuracy "scratch-$seed")%," \
         "full fine-tune $(accuracy "full-$seed")%"
  done
  # The merged model, run by the plain 10-class step, is the LoRA model.
  first=${SEEDS%% *}
  train merged-check "$out/mlp.so" --data fashion-mnist --steps 0 \
    --init "$out/mlp-merged-$first.safetensors"
  merged_acc=$(accuracy merged-check)

  adapter_bytes=$(bytes "$out/mlp-adapters-$first/adapter_model.safetensors")
  merged_bytes=$(bytes "$out/mlp-merged-$first.safetensors")
  lora_trainable=$(trainable mlp-lora)
  full_trainable=$(sed -n 's/^ *trainable parameters *\([0-9,]*\) (100.00%).*/\1/p' "$out/logs/mlp.report")
  nseeds=$(wc -w <<< "$SEEDS")
  row() {
    printf '| %s | %s | %s%% (%s) | %s%% | %s%% |\n' "$1" "$2" "$(mean ${acc[$3,all]})" \
      "$(range ${acc[$3,all]})" "$(mean ${acc[$3,0-4]})" "$(mean ${acc[$3,5-9]})"
  }
  mlp_table=$(
    echo "MLP: Fashion-MNIST test accuracy after fine-tuning on the first $MLP_EXAMPLES training"
    echo "examples, $MLP_EPOCHS epochs (mean of $nseeds seeds: $SEEDS; the range in brackets)"
    echo
    echo "| model | trainable parameters | all 10 classes | classes 0-4 | classes 5-9 (new) |"
    echo "|---|---|---|---|---|"
    row "from scratch" "$full_trainable (100%)" scratch
    row "pretrained on 0-4, full fine-tune" "$full_trainable (100%)" full
    row "pretrained on 0-4, LoRA r=8 on fc1, fc2 + new fc3" "$lora_trainable" lora
    echo
    echo "pretrained mlp-5 ($MLP_PRETRAIN_EPOCHS epochs of classes 0-4): $pretrain_acc% on classes 0-4"
    echo "LoRA adapters (adapter_model.safetensors, fc3 included): $adapter_bytes B ($(kib "$adapter_bytes")),"
    echo "  $(awk -v a="$adapter_bytes" -v m="$merged_bytes" 'BEGIN { printf "%.1f", 100 * a / m }')% of the"\
         "whole model's state_dict (the --merge output, $merged_bytes B, $(kib "$merged_bytes"))"
    echo "the merged model in the plain 10-class step: $merged_acc% (the LoRA run, seed $first: $(accuracy "lora-$first")%)"
  )
fi

if wants gpt; then
  for text in "$GPT_PRETRAIN_TEXT" "$GPT_FINETUNE_TEXT"; do
    [ -r "$text" ] || die "cannot read '$text' (the fortunes come with Debian's fortunes package, which ./setup.sh installs)"
  done
  pre_name=$(basename "$GPT_PRETRAIN_TEXT")
  ft_name=$(basename "$GPT_FINETUNE_TEXT")
  echo
  echo "== GPT: compile (gpt2-bytes, with LoRA)"
  compile gpt "$examples/gpt2-bytes.mlir" -o "$out/gpt.so"
  compile gpt-lora "$examples/gpt2-bytes.mlir" -o "$out/gpt-lora.so" --lr="$GPT_LORA_LR" \
    --lora-targets='c_attn|c_proj|c_fc' --lora-rank=8
  echo "== GPT: pretrain on $pre_name, $GPT_PRETRAIN_STEPS steps"
  train gpt-pretrain "$out/gpt.so" --data "$GPT_PRETRAIN_TEXT" --holdout "$HOLDOUT" \
    --steps "$GPT_PRETRAIN_STEPS" --save "$out/gpt-pretrained.safetensors"
  pretrained=(--init "$out/gpt-pretrained.safetensors")
  ft=(--data "$GPT_FINETUNE_TEXT" --holdout "$HOLDOUT")
  echo "== GPT: on $ft_name: the pretrained model as it is, LoRA, scratch, full fine-tune ($GPT_STEPS steps)"
  train gpt-base "$out/gpt.so" "${ft[@]}" --steps 0 "${pretrained[@]}" --sample "$SAMPLE"
  train gpt-lora "$out/gpt-lora.so" "${ft[@]}" --steps "$GPT_STEPS" "${pretrained[@]}" \
    --sample "$SAMPLE" --save-adapters "$out/gpt-adapters" --merge "$out/gpt-merged.safetensors"
  train gpt-scratch "$out/gpt.so" "${ft[@]}" --steps "$GPT_STEPS"
  train gpt-full "$out/gpt.so" "${ft[@]}" --steps "$GPT_STEPS" "${pretrained[@]}" \
    --save "$out/gpt-full.safetensors"
  # What each fine-tune kept of the pretraining text.
  train gpt-lora-back "$out/gpt.so" --data "$GPT_PRETRAIN_TEXT" --holdout "$HOLDOUT" --steps 0 \
    --init "$out/gpt-merged.safetensors"
  train gpt-full-back "$out/gpt.so" --data "$GPT_PRETRAIN_TEXT" --holdout "$HOLDOUT" --steps 0 \
    --init "$out/gpt-full.safetensors"

  gpt_adapter_bytes=$(bytes "$out/gpt-adapters/adapter_model.safetensors")
  gpt_merged_bytes=$(bytes "$out/gpt-merged.safetensors")
  gpt_full_trainable=$(sed -n 's/^ *trainable parameters *\([0-9,]*\) (100.00%).*/\1/p' "$out/logs/gpt.report")
  # The sample: the generated bytes after the line that names the prompt.
  sample_of() { sed -n '/^sample, after/,$p' "$out/logs/$1.log"; }
  gpt_table=$(
    echo "byte-level GPT: held-out loss (nats a byte) on the last $(awk -v h="$HOLDOUT" 'BEGIN { print 100 * h }')% of each text"
    echo
    echo "| model | trainable parameters | $ft_name (fine-tuning text) | $pre_name (pretraining text) |"
    echo "|---|---|---|---|"
    echo "| pretrained on $pre_name ($GPT_PRETRAIN_STEPS steps), not fine-tuned | - | $(heldout gpt-base) | $(heldout gpt-pretrain) |"
    echo "| from scratch on $ft_name, $GPT_STEPS steps | $gpt_full_trainable (100%) | $(heldout gpt-scratch) | - |"
    echo "| pretrained, full fine-tune, $GPT_STEPS steps | $gpt_full_trainable (100%) | $(heldout gpt-full) | $(heldout gpt-full-back) |"
    echo "| pretrained, LoRA r=8 on c_attn, c_proj, c_fc, $GPT_STEPS steps | $(trainable gpt-lora) | $(heldout gpt-lora) | $(heldout gpt-lora-back) |"
    echo
    echo "LoRA adapters: $gpt_adapter_bytes B ($(kib "$gpt_adapter_bytes")),"\
         "$(awk -v a="$gpt_adapter_bytes" -v m="$gpt_merged_bytes" 'BEGIN { printf "%.1f", 100 * a / m }')% of the"\
         "model's state_dict ($gpt_merged_bytes B, $(kib "$gpt_merged_bytes"))"
    echo
    echo "pretrained model, not fine-tuned:"
    sample_of gpt-base
    echo
    echo "after the LoRA fine-tune:"
    sample_of gpt-lora
  )
fi

echo
echo "== results ($((SECONDS - start)) s; every log under $out/logs)"
if wants mlp; then echo; echo "$mlp_table"; fi
if wants gpt; then echo; echo "$gpt_table"; fi
