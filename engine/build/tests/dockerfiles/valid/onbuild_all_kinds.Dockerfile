FROM alpine
ONBUILD ENV A=1
ONBUILD COPY --chown=1:1 . /src
ONBUILD WORKDIR /src
ONBUILD USER nobody
ONBUILD HEALTHCHECK CMD true
onbuild run echo lower
