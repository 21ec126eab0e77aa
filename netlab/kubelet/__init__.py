"""The kubelet role: per pod, restart containers by restartPolicy with back-off, run probes, terminate."""
