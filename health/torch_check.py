# tend health: prove torch can compute. Prints one JSON line last.
import json, sys, time
# -c puts the working directory first on sys.path: a torch.py or torch/
# there must not stand in for the real one.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
out = {}
t0 = time.monotonic()
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda_build"] = torch.version.cuda
    out["import_s"] = round(time.monotonic() - t0, 3)
    require_cuda = sys.argv[1:] == ["cuda"]
    if require_cuda:
        if torch.version.cuda is None:
            raise SystemExit(out.update(error="torch %s is a CPU-only build (torch.version.cuda is None)" % torch.__version__) or 3)
        if not torch.cuda.is_available():
            raise SystemExit(out.update(error="torch.cuda.is_available() is False (no driver, no --gpus, or CUDA_VISIBLE_DEVICES empty)") or 3)
        dev = torch.device("cuda", 0)
        out["device_name"] = torch.cuda.get_device_name(0)
        out["device_count"] = torch.cuda.device_count()
    else:
        dev = torch.device("cpu")
    out["device"] = str(dev)
    t1 = time.monotonic()
    a = torch.arange(1, 257, dtype=torch.float32, device=dev).reshape(16, 16)
    b = 2 * torch.eye(16, dtype=torch.float32, device=dev)
    c = a @ b
    x = torch.randn(256, 256, device=dev)
    y = x @ torch.eye(256, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        out["memory_allocated"] = torch.cuda.memory_allocated(dev)
    if not torch.equal(c.cpu(), (2 * a).cpu()) or not torch.allclose(x, y, atol=1e-3):
        raise SystemExit(out.update(error="matmul gave a wrong result on %s" % dev) or 4)
    out["matmul_s"] = round(time.monotonic() - t1, 3)
    out["ok"] = True
except SystemExit as e:
    print(json.dumps(out), flush=True)
    raise
except BaseException as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out), flush=True)
    sys.exit(5)
print(json.dumps(out), flush=True)
