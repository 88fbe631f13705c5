# Run 15 on the GPU machine: function matching from run 14 with the int8 teacher of generations
# 8, 12 and 14, as long a schedule as fits in the lease. Staged by stage.sh (see there).
set -u -o pipefail
PY=${PY:-python3}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT to the folder that comes back}
if [ -d .gpu/carry ]; then bash scripts/gpu/receive.sh --unpack || exit 4; fi
$PY -c "import torch, timm, lightning, torchmetrics; print('torch', torch.__version__, 'timm', timm.__version__, 'lightning', lightning.__version__, 'torchmetrics', torchmetrics.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
$PY scripts/gpu/prep.py /tmp/fer2013 || exit 3
E=${EPOCHS:-$($PY scripts/gpu/probe.py ${FIT_SECONDS:-380} | tee /dev/stderr | tail -1)}
echo "epochs: $E"
$PY -m emoscope.training.run_cli configs/fer2013_lite0.yaml name=fer2013-lite0-fm4 out_dir=/tmp/runs \
  data.root=/tmp/fer2013 model.pretrained=none model.init_from=runs/gpu/init/fer2013-lite0.json \
  distill.teacher=.gpu/teacher/gens-8-12-14.json distill.teacher_flip=true distill.alpha=1.0 \
  trainer.mixup_alpha=0.4 optim.lr=3e-4 optim.warmup_epochs=0.3 trainer.max_epochs=$E \
  trainer.num_threads=${THREADS:-8} trainer.max_minutes=${MINUTES:-6.8} trainer.ema_decay=0.998 2>&1 | tee $OUT/train.log
rc=$?
d=/tmp/runs/fer2013-lite0-fm4
cp $d/model.safetensors $d/model.json $d/metrics.csv $d/config.yaml $d/final_metrics.json $d/val_report.json $d/history.png $OUT/ 2>&1
exit $rc
