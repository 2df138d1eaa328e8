"""Occlusion heat maps for the live explorer, as background jobs with progress.

An occlusion runs hundreds of forward passes (seconds to minutes), so a request starts a job
and the page polls it. Jobs run one at a time in their own thread, beside the projections; a
bounded number wait; the most recent ones are kept with their results. Asking again for the
same occlusion returns the job already made.

Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(arXiv 1311.2901), section 4.2 and figure 7.
"""
import collections
import concurrent.futures
import dataclasses
import itertools
import threading

from absl import logging

from deconv.analysis import occlusion
from deconv.core import names
from deconv.errors import DeconvError
from deconv.explorer import live
from deconv.io import render

PAPER_OCCLUDER = 50 / 224  # the occluder's side as a share of the image's (the command's 50)


@dataclasses.dataclass
class Job:
    """One occlusion: its request, progress and result.

    Attributes:
      id: the job's id.
      layer, unit: the map watched; `size`, `stride`: the occluder's side and step.
      total, done: positions of the occluder, all and scored so far.
      state: `"queued"`, `"running"`, `"done"` or `"failed"`.
      error: why it failed (one line), or None.
      picture: when done, the heat map over the image with a colour bar, uint8 RGB.
      low, high, baseline: the map's smallest and largest total activation under the occluder,
        and its total on the whole image.
    """
    id: str
    layer: str
    unit: int
    size: int
    stride: int
    total: int
    done: int = 0
    state: str = "queued"
    error: str = None
    picture: object = None
    low: float = None
    high: float = None
    baseline: float = None

    def summary(self):
        """The job as JSON-ready values (without the picture)."""
        return {"job": self.id, "state": self.state, "done": self.done, "total": self.total,
                "layer": names.short(self.layer), "unit": self.unit, "size": self.size,
                "stride": self.stride, "error": self.error, "low": self.low,
                "high": self.high, "baseline": self.baseline}


class OcclusionJobs:
    """The occlusion jobs of an `Explorer`.

    Args:
      explorer: the `deconv.explorer.live.Explorer`.
      keep: how many finished jobs are kept.
      waiting: how many jobs may wait for the running one.
    """

    def __init__(self, explorer, keep=16, waiting=4):
        self.explorer, self.keep, self.waiting = explorer, keep, waiting
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="occlusion")
        self._lock = threading.Lock()
        self._jobs = collections.OrderedDict()  # id -> Job
        self._by_request = {}  # request -> id
        self._ids = itertools.count(1)

    def default_occluder(self):
        """`(size, stride)`: the paper's 50 px at 224 px, scaled to the image; a third of it."""
        size = max(1, round(self.explorer.options.size * PAPER_OCCLUDER))
        return size, max(1, size // 3)

    def start(self, key, layer, unit, size=None, stride=None):
        """Starts (or finds) the occlusion of map `unit` of `layer` in image `key`.

        Raises:
          DeconvError: bad arguments (checked now, before the job waits); `Busy` when too many
            jobs wait.
        """
        explorer = self.explorer
        name, image = explorer.layer(layer), explorer.image(key)
        unit = explorer.check_unit(name, unit)
        default_size, default_stride = self.default_occluder()
        size = default_size if size is None else size
        stride = default_stride if stride is None else stride
        tops, lefts = occlusion.grid(image.shape[:2], size, stride)
        request = (key, name, unit, size, stride)
        with self._lock:
            found = self._by_request.get(request)
            if found in self._jobs and self._jobs[found].state != "failed":
                return self._jobs[found]
            pending = sum(job.state in ("queued", "running") for job in self._jobs.values())
            if pending > self.waiting:
                raise live.Busy(f"{pending} occlusions are waiting or running; ask again when one "
                           f"is done.")
            job = Job(f"{next(self._ids)}", name, unit, size, stride, len(tops) * len(lefts))
            self._jobs[job.id] = job
            self._by_request[request] = job.id
            self._forget_old()
        self._pool.submit(self._run, job, image)
        return job

    def get(self, job_id):
        """The `Job` `job_id`; raises `live.Unknown` if unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise live.Unknown(f"Unknown occlusion job {job_id!r} (the server keeps the "
                              f"{self.keep} most recent).")
        return job

    def _forget_old(self):
        finished = [job_id for job_id, job in self._jobs.items()
                    if job.state in ("done", "failed")]
        for job_id in finished[:max(0, len(finished) - self.keep)]:
            del self._jobs[job_id]
        self._by_request = {request: job_id for request, job_id in self._by_request.items()
                            if job_id in self._jobs}

    def _run(self, job, image):
        job.state = "running"
        net = self.explorer.net
        try:
            # the map's forward graph is built under the explorer's first-calls lock
            self.explorer.guarded(("activations", job.layer), net.activations, image[None],
                                  job.layer)
            result = occlusion.occlude(
                net, job.layer, image, feature=job.unit,
                occluder=occlusion.Occluder(job.size, job.stride),
                progress=lambda done: setattr(job, "done", done))
            heat = occlusion.to_pixels(result.feature_total, result, image.shape[:2])
            job.low = float(result.feature_total.min())
            job.high = float(result.feature_total.max())
            job.baseline = result.feature_baseline
            job.picture = render.with_colour_bar(
                render.overlay(image, heat, low=job.low, high=job.high), job.low, job.high,
                f"{names.short(job.layer)} map {job.unit}: total")
            job.state = "done"
        except DeconvError as error:
            job.error, job.state = str(error), "failed"
        except Exception as error:  # noqa: BLE001 (the page shows it; the log has the trace)
            logging.exception("Occlusion job %s failed", job.id)
            job.error, job.state = f"{type(error).__name__}: {error}", "failed"

    def close(self):
        """Stops taking jobs; the running one finishes."""
        self._pool.shutdown(wait=False, cancel_futures=True)
