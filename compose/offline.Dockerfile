# The one built layer of the offline stand-ins (compose.offline.yaml): the API and SecantusDB
# installed from wheels into /opt/venv. Built by `capacity images build` (harness/stack/images.py)
# with the legacy builder FROM BASE, a Debian rootfs made by debootstrap and `docker import`ed
# (python3, nginx-light, redis-server, wget, and the entrypoints under /usr/local/bin). The build
# context holds the wheels of `.[api]` and SecantusDB, built on the host by `pip wheel`, and the
# SecantusDB launcher. Two instructions only: on the vfs storage driver each one copies the
# whole filesystem; commands, users and healthchecks are set in compose.offline.yaml instead.
ARG BASE=primo-offline-base:latest
FROM ${BASE}
COPY . /tmp/build
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/tmp/build/wheels \
      "primo-capacity[api]" secantusdb \
 && install -m 0644 /tmp/build/secantus_launcher.py /opt/secantus_launcher.py \
 && rm -rf /tmp/build \
 && ln -s python3 /usr/bin/python \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app \
 && install -d -o app -g app /app /data/db
