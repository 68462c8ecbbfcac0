FROM alpine
ARG A
ARG B=default
ARG C="quoted value" D=4
