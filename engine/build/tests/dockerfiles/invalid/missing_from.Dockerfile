# comment
RUN echo no from
