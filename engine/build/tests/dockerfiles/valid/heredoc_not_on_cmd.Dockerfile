FROM alpine
CMD cat <<EOF
RUN echo still an instruction
