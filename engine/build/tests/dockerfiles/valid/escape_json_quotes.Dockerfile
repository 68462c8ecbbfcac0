FROM alpine
RUN ["sh", "-c", "echo \"quoted\" \\\\ back"]
LABEL a="x \"y\"" b='single $q'
