ARG BASE=alpine
ARG PLATFORM=linux/amd64
FROM --platform=$PLATFORM ${BASE}:3 AS base
FROM base
ARG BASE
RUN echo $BASE
