FROM alpine
ONBUILD RUNN make
