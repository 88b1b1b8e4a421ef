# The skein image: one static binary and the few files it reads, on an empty base, so it
# builds without pulling anything and holds no shell or package manager.
#
# Build it with scripts/image, which compiles the static binary (its own cargo profile
# and target) and lays out the build context this file reads:
#
#   skein                               the static x86_64 binary (glibc, crt-static)
#   rootfs/etc/passwd, rootfs/etc/group  root and the skein user (uid/gid 10001)
#   rootfs/etc/nsswitch.conf             hosts: files dns (static glibc 2.34+ has both
#                                        built in, so compose service names resolve)
#   rootfs/etc/ssl/certs/ca-certificates.crt   CA roots for https:// servers
#   rootfs/tmp                           mode 1777
#   data/                                empty: the server's data directory
#
#   docker run -d -p 9280:9280 -v skein-data:/var/lib/skein skein:latest server
#   docker run -d --user 0 -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     -v /var/lib/docker/containers:/var/lib/docker/containers:ro \
#     -v skein-agent:/var/lib/skein-agent skein:latest agent --server http://HOST:9280
FROM scratch
COPY rootfs/ /
# Owned by the server's user, so a named volume mounted here starts out as its own.
COPY --chown=10001:10001 data/ /var/lib/skein/
COPY skein /skein
# In a container the server listens on every interface (auth is then always on: see
# README "Security"); the agent keeps its checkpoint and spool where compose mounts a
# volume.
ENV SKEIN_DATA_DIR=/var/lib/skein \
    SKEIN_LISTEN=0.0.0.0:9280 \
    SKEIN_AGENT_STATE_DIR=/var/lib/skein-agent
# The server runs unprivileged. The agent reads root-owned files (the Docker socket,
# /var/lib/docker/containers), so its deployments run it as user 0.
USER 10001:10001
WORKDIR /var/lib/skein
EXPOSE 9280
ENTRYPOINT ["/skein"]
CMD ["--help"]
