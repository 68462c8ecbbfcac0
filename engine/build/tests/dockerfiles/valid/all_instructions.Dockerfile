# syntax=docker/dockerfile:1
ARG BASE=debian:12
FROM ${BASE} AS base
MAINTAINER someone
LABEL a=b
ENV X=1
ARG Y=2
RUN echo $X
COPY a /a
ADD b /b
WORKDIR /w
USER u
EXPOSE 80
VOLUME /v
SHELL ["/bin/bash","-c"]
STOPSIGNAL SIGINT
HEALTHCHECK CMD true
ONBUILD RUN true
ENTRYPOINT ["/e"]
CMD ["c"]
