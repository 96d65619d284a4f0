"""A dask.distributed client for the project's parallel runs (datagen shards, batch predictions).

``"local"`` starts a LocalCluster of single-threaded worker processes, closed on exit; any
other value is the address of a running scheduler.
"""

from contextlib import contextmanager


@contextmanager
def dask_client(scheduler: str, n_workers: int):
    """Yield a dask Client: of a new LocalCluster ("local"), else of the scheduler address.

    The LocalCluster has ``n_workers`` processes of one thread each and is closed on exit.
    """
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler == "local":
        import dask

        # dask sets MALLOC_TRIM_THRESHOLD_=65536 for its workers; setting it switches off glibc's
        # dynamic mmap threshold, so every large tensor is mmapped and unmapped again (measured:
        # half the CPU time in the kernel, 2 workers at half the speed of one process)
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
                              None}):
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()
