# tend health: prove torch can compute on every device asked for. Prints one
# JSON line last. argv: "cpu", or "cuda" [comma-separated device indices].
import json, sys, time
# -c puts the working directory first on sys.path: a torch.py or torch/
# there must not stand in for the real one.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
out = {}
t0 = time.monotonic()


def prove(torch, dev):
    """Runs real kernels on dev and checks their results."""
    d = {"device": str(dev)}
    t1 = time.monotonic()
    try:
        if dev.type == "cuda":
            d["name"] = torch.cuda.get_device_name(dev)
        a = torch.arange(1, 257, dtype=torch.float32, device=dev).reshape(16, 16)
        b = 2 * torch.eye(16, dtype=torch.float32, device=dev)
        c = a @ b
        x = torch.randn(256, 256, device=dev)
        y = x @ torch.eye(256, device=dev)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            d["memory_allocated"] = torch.cuda.memory_allocated(dev)
        if not torch.equal(c.cpu(), (2 * a).cpu()) or not torch.allclose(x, y, atol=1e-3):
            d["error"] = "matmul gave a wrong result"
        else:
            d["ok"] = True
    except Exception as e:
        d["error"] = "%s: %s" % (type(e).__name__, " ".join(str(e).split())[:300])
    d["matmul_s"] = round(time.monotonic() - t1, 3)
    return d


try:
    import torch
    out["torch"] = torch.__version__
    out["cuda_build"] = torch.version.cuda
    out["import_s"] = round(time.monotonic() - t0, 3)
    args = sys.argv[1:]
    if args[:1] == ["cuda"]:
        if torch.version.cuda is None:
            raise SystemExit(out.update(error="a CPU-only build (torch.version.cuda is None), and the check requires CUDA (require_cuda)") or 3)
        if not torch.cuda.is_available():
            raise SystemExit(out.update(error="torch.cuda.is_available() is False (no driver, no --gpus, or CUDA_VISIBLE_DEVICES empty)") or 3)
        n = torch.cuda.device_count()
        out["device_count"] = n
        wanted = [int(i) for i in args[1].split(",")] if len(args) > 1 and args[1] else list(range(n))
        missing = [i for i in wanted if i < 0 or i >= n]
        if missing:
            raise SystemExit(out.update(error="cuda:%d does not exist (%d visible)" % (missing[0], n)) or 3)
        devs = [torch.device("cuda", i) for i in wanted]
    else:
        devs = [torch.device("cpu")]
    out["devices"] = [prove(torch, d) for d in devs]
    out["ok"] = all(d.get("ok") for d in out["devices"])
except SystemExit:
    print(json.dumps(out), flush=True)
    raise
except BaseException as e:
    out["error"] = "%s: %s" % (type(e).__name__, " ".join(str(e).split())[:300])
    print(json.dumps(out), flush=True)
    sys.exit(5)
print(json.dumps(out), flush=True)
sys.exit(0 if out["ok"] else 4)
